// ServerTls: certificate contexts, SNI, ALPN and the ticket callback.
#include "fc/tls/server_tls.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <time.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "fc/tls/ticket_keys.h"

namespace fc::tls {

const char kIntermediateCiphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305";

namespace {

// OpenSSL's queued errors as one line (and the queue emptied).
std::string OpenSslErrors() {
  std::string out;
  unsigned long e;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    if (!out.empty()) out += "; ";
    const char* reason = ERR_reason_error_string(e);
    out += reason != nullptr ? reason : buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

Result<std::string> ReadWhole(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno(errno, "open", std::string(what) + " " + path);
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::FromErrno(errno, "read", std::string(what) + " " + path);
  if (text.str().size() > (1u << 20)) return Status::Error(std::string(what) + " " + path + " is larger than 1 MiB");
  return text.str();
}

std::vector<std::string> CertNames(X509* cert) {
  std::vector<std::string> names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
    if (n->type == GEN_DNS) {
      const ASN1_STRING* s = n->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      names.emplace_back("(IP address)");
    }
  }
  GENERAL_NAMES_free(sans);
  if (names.empty()) {
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof(cn)) > 0) {
      names.emplace_back(cn);
    }
  }
  return names;
}

int OnAlpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned int inlen,
           void* arg) {
  const auto* wire = static_cast<const std::string*>(arg);
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, reinterpret_cast<const unsigned char*>(wire->data()),
                            static_cast<unsigned int>(wire->size()), in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // nothing in common: go on without ALPN
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

// Seals (enc = 1) or opens a session ticket with the process's keys.
int OnTicketKey(SSL*, unsigned char key_name[16], unsigned char* iv, EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac,
                int enc) {
  TicketKey key;
  const int64_t now = static_cast<int64_t>(::time(nullptr));
  int which;
  if (enc == 1) {
    which = ProcessTicketKey(now, nullptr, &key);
    std::memcpy(key_name, key.name, sizeof(key.name));
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
  } else {
    which = ProcessTicketKey(now, key_name, &key);
    if (which == 0) return 0;  // sealed by another fc or an expired period: full handshake
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac, sizeof(key.hmac)),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  const int ok = EVP_CipherInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes, iv, enc) == 1 &&
                 EVP_MAC_CTX_set_params(mac, params) == 1;
  OPENSSL_cleanse(&key, sizeof(key));
  if (!ok) return -1;
  // 2 on every open, not only with the previous key: a new ticket is sealed
  // on each resumption, so a client that uses a ticket once (RFC 8446
  // §C.4, OpenSSL's and the browsers' TLS 1.3 clients) can resume again.
  return enc == 1 ? 1 : 2;
}

int VersionOf(const std::string& name) {
  if (name == "TLSv1.2") return TLS1_2_VERSION;
  if (name == "TLSv1.3") return TLS1_3_VERSION;
  return 0;
}

}  // namespace

Result<CertPem> ReadCertPem(const std::string& cert_file, const std::string& key_file) {
  CertPem pem;
  pem.cert_file = cert_file;
  pem.key_file = key_file;
  auto cert = ReadWhole(cert_file, "--tls-cert");
  if (!cert.ok()) return cert.status();
  auto key = ReadWhole(key_file, "--tls-key");
  if (!key.ok()) return key.status();
  pem.cert = std::move(cert.value());
  pem.key = std::move(key.value());
  return pem;
}

std::string KeyFileWarning(const std::string& key_file) {
  struct stat st {};
  if (::stat(key_file.c_str(), &st) != 0) return "";
  if ((st.st_mode & 077) == 0) return "";
  return "warning: --tls-key " + key_file + " is readable by " +
         ((st.st_mode & 004) ? std::string("every user") : std::string("its group")) +
         " (mode " + [&] {
           char m[8];
           std::snprintf(m, sizeof(m), "%04o", st.st_mode & 07777);
           return std::string(m);
         }() + "); make it 0600, owned by root";
}

Result<std::shared_ptr<const ServerTls>> ServerTls::Create(const ServerSettings& settings,
                                                          const std::vector<CertPem>& pairs) {
  if (pairs.empty()) return Status::Error("TLS needs at least one --tls-cert and --tls-key");
  std::shared_ptr<ServerTls> tls(new ServerTls());
  for (const std::string& p : settings.alpn) {
    tls->alpn_wire_.push_back(static_cast<char>(p.size()));
    tls->alpn_wire_ += p;
  }
  int min_version = 0, max_version = 0;
  for (const std::string& p : settings.protocols) {
    const int v = VersionOf(p);
    if (v == 0) return Status::Error("--tls-protocols: \"" + p + "\" is not TLSv1.2 or TLSv1.3");
    if (min_version == 0 || v < min_version) min_version = v;
    if (v > max_version) max_version = v;
  }
  if (min_version == 0) return Status::Error("--tls-protocols names no protocol");
  const std::string ciphers = settings.ciphers.empty() ? kIntermediateCiphers : settings.ciphers;
  for (const CertPem& pem : pairs) {
    Pair pair;
    pair.ctx = SSL_CTX_new(TLS_server_method());
    if (pair.ctx == nullptr) return Status::Error("SSL_CTX_new: " + OpenSslErrors());
    tls->pairs_.push_back(pair);  // freed by ~ServerTls from here on
    SSL_CTX* ctx = pair.ctx;
    SSL_CTX_set_min_proto_version(ctx, min_version);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    // The server's order of the (all strong) ciphers, as testssl.sh asks,
    // with ChaCha20 first for a client that lists it first (one without AES
    // instructions): Mozilla's reason for leaving the choice to clients.
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_PRIORITIZE_CHACHA);
    // The record buffers stay while a connection is busy (no malloc and free
    // of 2 x 16 KiB per request, as SSL_MODE_RELEASE_BUFFERS would cost);
    // the loop's sweep gives them back once it is idle (TlsStream::ReleaseBuffers).
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (min_version <= TLS1_2_VERSION && SSL_CTX_set_cipher_list(ctx, ciphers.c_str()) != 1) {
      return Status::Error("--tls-ciphers \"" + ciphers + "\": " + OpenSslErrors());
    }
    SSL_CTX_set_dh_auto(ctx, 1);
    if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) {
      return Status::Error("TLS groups: " + OpenSslErrors());
    }
    // Tickets carry resumption; no per-process session cache (it would
    // resume only on the worker that made the session).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_timeout(ctx, TicketKeys::kRotateSeconds);
    SSL_CTX_set_num_tickets(ctx, 1);
    SSL_CTX_set_max_early_data(ctx, 0);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, OnTicketKey);
    SSL_CTX_set_alpn_select_cb(ctx, OnAlpn, &tls->alpn_wire_);
    SSL_CTX_set_max_cert_list(ctx, 16 * 1024);  // fc asks for no client certificate
    // One recv takes what has arrived (16 KiB at most), rather than a
    // record's 5-byte header and then its body: a request costs one recv.
    SSL_CTX_set_read_ahead(ctx, 1);

    BIO* cert_bio = BIO_new_mem_buf(pem.cert.data(), static_cast<int>(pem.cert.size()));
    X509* leaf = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
    if (leaf == nullptr) {
      BIO_free(cert_bio);
      return Status::Error("--tls-cert " + pem.cert_file + ": no PEM certificate in it (" + OpenSslErrors() + ")");
    }
    const bool used = SSL_CTX_use_certificate(ctx, leaf) == 1;
    tls->pairs_.back().names = CertNames(leaf);
    X509_free(leaf);
    if (!used) {
      BIO_free(cert_bio);
      return Status::Error("--tls-cert " + pem.cert_file + ": " + OpenSslErrors());
    }
    while (X509* extra = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add0_chain_cert(ctx, extra) != 1) {
        X509_free(extra);
        BIO_free(cert_bio);
        return Status::Error("--tls-cert " + pem.cert_file + ": chain: " + OpenSslErrors());
      }
    }
    ERR_clear_error();  // the end of the PEM list
    BIO_free(cert_bio);

    BIO* key_bio = BIO_new_mem_buf(pem.key.data(), static_cast<int>(pem.key.size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
    BIO_free(key_bio);
    if (key == nullptr) {
      return Status::Error("--tls-key " + pem.key_file + ": no unencrypted PEM private key in it (" +
                           OpenSslErrors() + ")");
    }
    const bool key_used = SSL_CTX_use_PrivateKey(ctx, key) == 1;
    EVP_PKEY_free(key);
    if (!key_used || SSL_CTX_check_private_key(ctx) != 1) {
      return Status::Error("--tls-key " + pem.key_file + " does not match --tls-cert " + pem.cert_file + " (" +
                           OpenSslErrors() + ")");
    }
  }
  SSL_CTX_set_tlsext_servername_callback(tls->pairs_[0].ctx, OnServerName);
  SSL_CTX_set_tlsext_servername_arg(tls->pairs_[0].ctx, tls.get());
  return std::shared_ptr<const ServerTls>(std::move(tls));
}

ServerTls::~ServerTls() {
  for (Pair& p : pairs_) SSL_CTX_free(p.ctx);
}

int ServerTls::OnServerName(SSL* ssl, int*, void* arg) {
  const auto* self = static_cast<const ServerTls*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || self->pairs_.size() == 1) return SSL_TLSEXT_ERR_OK;
  for (size_t i = 0; i < self->pairs_.size(); ++i) {
    X509* cert = SSL_CTX_get0_certificate(self->pairs_[i].ctx);
    if (cert != nullptr && X509_check_host(cert, name, 0, 0, nullptr) == 1) {
      if (i != 0) SSL_set_SSL_CTX(ssl, self->pairs_[i].ctx);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_OK;  // no certificate names it: the default one
}

SSL* ServerTls::NewConnection() const {
  SSL* ssl = SSL_new(pairs_[0].ctx);
  if (ssl != nullptr) SSL_set_accept_state(ssl);
  return ssl;
}

}  // namespace fc::tls
