// ClientTls: fc-client's side of HTTPS, over a connected blocking socket.
// The server's certificate is verified against --cacert FILE (or the
// system's CA store), and its name against the host of the URL (a DNS name,
// or an IP address in its subjectAltName): a mismatch fails the connection.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "fc/base/status.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;

namespace fc::tls {

class ClientTls {
 public:
  // `cacert` "": the system's CA certificates.
  static Result<std::unique_ptr<ClientTls>> Connect(int fd, const std::string& host, const std::string& cacert,
                                                    const std::string& peer);
  ~ClientTls();
  ClientTls(const ClientTls&) = delete;
  ClientTls& operator=(const ClientTls&) = delete;

  // Up to `length` bytes; 0 at the end of the stream (close_notify or EOF).
  Result<size_t> ReadSome(void* data, size_t length);
  Status WriteAll(const void* data, size_t length);

 private:
  ClientTls() = default;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string peer_;
};

}  // namespace fc::tls
