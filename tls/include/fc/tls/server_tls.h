// ServerTls: what a TLS listener answers handshakes with. One SSL_CTX per
// certificate/key pair, chosen by SNI from the names in each certificate
// (X509_check_host, so wildcards match as browsers match them); the first
// pair is the default. Every context has the same protocols, ciphers, ALPN
// list and ticket callback (sealed with the process's TicketKeys). 0-RTT,
// renegotiation and compression are off; the server-side session cache is
// off too, tickets carry every resumption.
//
// The master builds it from PEM bytes it read as root (CertPem) before any
// worker is forked; workers use the inherited one and never open a key file.
// Immutable once built: every loop thread of a worker shares it.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fc/base/status.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace fc::tls {

// A certificate (leaf first, then its chain) and its private key, as read.
struct CertPem {
  std::string cert_file;
  std::string key_file;
  std::string cert;  // PEM
  std::string key;   // PEM
};

struct ServerSettings {
  // "TLSv1.2", "TLSv1.3" (--tls-protocols).
  std::vector<std::string> protocols{"TLSv1.2", "TLSv1.3"};
  // TLS 1.2 cipher list, OpenSSL syntax (--tls-ciphers); TLS 1.3 suites are
  // OpenSSL's three defaults.
  std::string ciphers;
  // ALPN protocols offered, in preference order.
  std::vector<std::string> alpn{"http/1.1"};
};

// Mozilla's "intermediate" TLS 1.2 list (server-side TLS guidelines v5.7).
extern const char kIntermediateCiphers[];

// Reads a pair from its files, with messages naming them.
Result<CertPem> ReadCertPem(const std::string& cert_file, const std::string& key_file);
// A warning for a key file others may read ("" when none): names the file.
std::string KeyFileWarning(const std::string& key_file);

class ServerTls {
 public:
  // Fails, naming the file and OpenSSL's reason, on a bad certificate, a
  // bad key, a key that does not match its certificate, or a setting
  // OpenSSL refuses.
  static Result<std::shared_ptr<const ServerTls>> Create(const ServerSettings& settings,
                                                         const std::vector<CertPem>& pairs);
  ~ServerTls();
  ServerTls(const ServerTls&) = delete;
  ServerTls& operator=(const ServerTls&) = delete;

  // A server-side SSL for the accepted socket `fd` (the stream owns it).
  SSL* NewConnection() const;
  // The names of certificate i, for a log line ("a.example, *.b.example").
  const std::vector<std::string>& names(size_t i) const { return pairs_[i].names; }
  size_t size() const { return pairs_.size(); }

 private:
  struct Pair {
    SSL_CTX* ctx = nullptr;
    std::vector<std::string> names;
  };
  ServerTls() = default;
  static int OnServerName(SSL* ssl, int* alert, void* arg);
  std::vector<Pair> pairs_;
  std::string alpn_wire_;  // length-prefixed ALPN list
};

}  // namespace fc::tls
