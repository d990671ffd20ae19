// ClientTls: a verified, blocking TLS client; see client_tls.h.
#include "fc/tls/client_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>

namespace fc::tls {
namespace {

std::string Errors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    const char* reason = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += reason != nullptr ? reason : "unknown OpenSSL error";
  }
  return out.empty() ? "connection closed" : out;
}

bool IsIpLiteral(const std::string& host) {
  unsigned char buf[16];
  return ::inet_pton(AF_INET, host.c_str(), buf) == 1 || ::inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

Result<std::unique_ptr<ClientTls>> ClientTls::Connect(int fd, const std::string& host, const std::string& cacert,
                                                      const std::string& peer) {
  std::unique_ptr<ClientTls> c(new ClientTls());
  c->peer_ = peer;
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (c->ctx_ == nullptr) return Status::Error("TLS: " + Errors());
  SSL_CTX_set_min_proto_version(c->ctx_, TLS1_2_VERSION);
  SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
  const int loaded = cacert.empty() ? SSL_CTX_set_default_verify_paths(c->ctx_)
                                    : SSL_CTX_load_verify_locations(c->ctx_, cacert.c_str(), nullptr);
  if (loaded != 1) {
    return Status::Error("--cacert " + (cacert.empty() ? std::string("(system store)") : cacert) +
                         ": cannot load CA certificates (" + Errors() + ")");
  }
  static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  SSL_CTX_set_alpn_protos(c->ctx_, kAlpn, sizeof(kAlpn));
  c->ssl_ = SSL_new(c->ctx_);
  if (c->ssl_ == nullptr) return Status::Error("TLS: " + Errors());
  if (IsIpLiteral(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl_), host.c_str());
  } else {
    SSL_set_tlsext_host_name(c->ssl_, host.c_str());
    SSL_set1_host(c->ssl_, host.c_str());
  }
  SSL_set_fd(c->ssl_, fd);
  ERR_clear_error();
  if (SSL_connect(c->ssl_) != 1) {
    const long verify = SSL_get_verify_result(c->ssl_);
    if (verify != X509_V_OK) {
      return Status::Error("TLS to " + peer + ": the server's certificate does not verify: " +
                           X509_verify_cert_error_string(verify));
    }
    return Status::Error("TLS handshake with " + peer + " failed: " + Errors());
  }
  return c;
}

ClientTls::~ClientTls() {
  if (ssl_ != nullptr) {
    SSL_shutdown(ssl_);
    SSL_free(ssl_);
  }
  SSL_CTX_free(ctx_);
}

Result<size_t> ClientTls::ReadSome(void* data, size_t length) {
  size_t got = 0;
  ERR_clear_error();
  if (SSL_read_ex(ssl_, data, length, &got) == 1) return got;
  const int err = SSL_get_error(ssl_, 0);
  if (err == SSL_ERROR_ZERO_RETURN) return size_t{0};
  if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Status::Error("timed out reading from " + peer_);
    return size_t{0};  // EOF without close_notify: the body length tells whether anything is missing
  }
  return Status::Error("TLS read from " + peer_ + ": " + Errors());
}

Status ClientTls::WriteAll(const void* data, size_t length) {
  const char* p = static_cast<const char*>(data);
  while (length > 0) {
    size_t wrote = 0;
    ERR_clear_error();
    if (SSL_write_ex(ssl_, p, length, &wrote) != 1) return Status::Error("TLS write to " + peer_ + ": " + Errors());
    p += wrote;
    length -= wrote;
  }
  return Status::Ok();
}

}  // namespace fc::tls
