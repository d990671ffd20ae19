// TlsStream: one TLS connection over a nonblocking socket, for an event
// loop. Reads and writes go through fc's own BIO, a thin shim over recv and
// sendmsg. It counts handshake bytes (a handshake larger than
// kMaxHandshakeBytes fails). A write that has more to follow at once (a
// reply head before its body, a handshake flight before its flush) may hold
// a small record, at most 2 KiB of fc's own bytes, to send it with the next
// record in one sendmsg: a 4 KiB hit is one recv and one sendmsg, as over
// plain TCP. A record of file bytes is never held or copied by fc; it goes
// from OpenSSL's record buffer to the socket (SSL_write takes it straight
// from the segment's packets).
//
// A write that returns kWantWrite must be repeated with the same bytes (the
// same pointer is not needed: SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

typedef struct ssl_st SSL;

namespace fc::tls {

// Why a handshake failed: a fixed set, the label of a metric.
enum class Failure : uint8_t {
  kNone,
  kTimeout,       // not done within --tls-handshake-timeout (the loop says so)
  kTooLarge,      // more than kMaxHandshakeBytes from the client
  kVersion,       // no protocol version in common
  kCipher,        // no cipher, group or signature in common
  kPlainHttp,     // the client spoke plain HTTP to the TLS port
  kPeerAlert,     // the client refused (bad certificate, unknown CA, ...)
  kEof,           // the client closed during the handshake
  kOther,
  kTooMany,       // over --tls-max-handshakes at once: closed unanswered
};
constexpr int kFailureKinds = 10;
const char* FailureName(Failure f);

class TlsStream {
 public:
  static constexpr size_t kMaxHandshakeBytes = 64 * 1024;
  enum class Io { kDone, kWantRead, kWantWrite, kClosed, kFailed };

  // Takes `ssl` (from ServerTls::NewConnection, or a client's) over `fd`.
  TlsStream(SSL* ssl, int fd);
  ~TlsStream();
  TlsStream(const TlsStream&) = delete;
  TlsStream& operator=(const TlsStream&) = delete;

  Io Handshake();
  bool handshake_done() const { return done_; }
  Failure failure() const { return failure_; }
  // Up to `cap` plaintext bytes into `buf` (*got); kDone with *got > 0.
  Io Read(char* buf, size_t cap, size_t* got);
  // One record of up to 16 KiB from `data`; *wrote is what it took. `more`:
  // another write follows at once (a small record may wait for it).
  Io Write(const void* data, size_t len, bool more, size_t* wrote);
  // Plaintext OpenSSL has read from the socket but not yet handed out.
  bool has_pending() const;
  // Nothing is left to read now: OpenSSL holds nothing and its last recv
  // got less than it asked (a read would only return kWantRead).
  bool drained() const;
  // A close_notify, best effort (never blocks).
  void Shutdown();
  // Gives OpenSSL's read and write buffers back (about 34 KiB) while the
  // connection is idle; they are made again by the next read or write.
  void ReleaseBuffers();

  const char* protocol() const;  // "TLSv1.3"
  const char* cipher() const;    // "TLS_AES_128_GCM_SHA256"
  bool resumed() const;
  // The ALPN protocol chosen ("" if none).
  std::string_view alpn() const;

  struct Shim;  // the BIO's state (stream.cc)

 private:
  Io Classify(int ret, bool handshaking);
  SSL* ssl_;
  Shim* shim_;
  bool done_ = false;
  Failure failure_ = Failure::kNone;
};

}  // namespace fc::tls
