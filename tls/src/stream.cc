// TlsStream: a nonblocking TLS connection through fc's socket BIO.
#include "fc/tls/stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <string>

namespace fc::tls {

struct TlsStream::Shim {
  int fd;
  bool more = false;        // the next send is followed by another at once
  bool handshaking = true;  // count what arrives
  size_t handshake_bytes = 0;
  bool too_large = false;
  bool drained = false;  // the last recv got less than it asked: the socket is empty
  // Small records (a reply head, an alert, a handshake message) held back
  // while more follows at once, to leave with the next record in one
  // sendmsg. A record of file bytes is never held: it goes straight from
  // OpenSSL's buffer to the socket.
  std::string held;
};

namespace {

constexpr size_t kRecord = 16 * 1024;

constexpr size_t kHeldRecord = 2048;  // records up to this size may wait for the next

// Sends what is held and then `data`, in one sendmsg. Returns the bytes of
// `data` taken (what is held goes first); -1 with errno.
ssize_t SendWithHeld(TlsStream::Shim* shim, const char* data, size_t len) {
  iovec iov[2];
  int n = 0;
  if (!shim->held.empty()) iov[n++] = {shim->held.data(), shim->held.size()};
  if (len > 0) iov[n++] = {const_cast<char*>(data), len};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = static_cast<size_t>(n);
  for (;;) {
    const ssize_t sent = ::sendmsg(shim->fd, &msg, MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0) return -1;
    const size_t from_held = std::min(static_cast<size_t>(sent), shim->held.size());
    shim->held.erase(0, from_held);
    if (!shim->held.empty()) {
      errno = EAGAIN;  // the held bytes go first: nothing of `data` yet
      return -1;
    }
    return sent - static_cast<ssize_t>(from_held);
  }
}

int ShimWrite(BIO* bio, const char* data, int len) {
  auto* shim = static_cast<TlsStream::Shim*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (shim->more && static_cast<size_t>(len) <= kHeldRecord && shim->held.size() + len <= 2 * kHeldRecord) {
    shim->held.append(data, static_cast<size_t>(len));  // fc's own small record: it waits for the next
    return len;
  }
  // No MSG_MORE: what belongs together is already one sendmsg, and a corked
  // 16 KiB record cost a 1 MiB hit a third more CPU on loopback (670 against
  // 500 us, the push that ends the cork).
  const ssize_t n = SendWithHeld(shim, data, static_cast<size_t>(len));
  if (n >= 0) return static_cast<int>(n);
  if (errno == EAGAIN) BIO_set_retry_write(bio);
  return -1;
}

// BIO_flush (the end of a handshake flight, an alert): what is held goes out.
bool FlushHeld(TlsStream::Shim* shim) {
  return shim->held.empty() || (SendWithHeld(shim, nullptr, 0) >= 0 && shim->held.empty());
}

int ShimRead(BIO* bio, char* data, int len) {
  auto* shim = static_cast<TlsStream::Shim*>(BIO_get_data(bio));
  BIO_clear_retry_flags(bio);
  if (shim->handshaking) {
    if (shim->handshake_bytes >= TlsStream::kMaxHandshakeBytes) {
      shim->too_large = true;
      return -1;
    }
    len = static_cast<int>(std::min<size_t>(static_cast<size_t>(len),
                                            TlsStream::kMaxHandshakeBytes - shim->handshake_bytes));
  }
  for (;;) {
    const ssize_t n = ::recv(shim->fd, data, static_cast<size_t>(len), 0);
    if (n > 0) {
      if (shim->handshaking) shim->handshake_bytes += static_cast<size_t>(n);
      shim->drained = n < len;
      return static_cast<int>(n);
    }
    if (n == 0) return 0;
    if (errno == EINTR) continue;
    shim->drained = true;
    if (errno == EAGAIN) BIO_set_retry_read(bio);
    return -1;
  }
}

long ShimCtrl(BIO* bio, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: {
      BIO_clear_retry_flags(bio);
      if (FlushHeld(static_cast<TlsStream::Shim*>(BIO_get_data(bio)))) return 1;
      if (errno == EAGAIN) BIO_set_retry_write(bio);
      return 0;
    }
    default:
      return 0;
  }
}

BIO_METHOD* ShimMethod() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "fc socket");
    BIO_meth_set_write(m, ShimWrite);
    BIO_meth_set_read(m, ShimRead);
    BIO_meth_set_ctrl(m, ShimCtrl);
    return m;
  }();
  return method;
}

Failure ReasonOf(unsigned long e) {
  if (ERR_GET_LIB(e) != ERR_LIB_SSL) return Failure::kOther;
  switch (ERR_GET_REASON(e)) {
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_VERSION_TOO_HIGH:
    case SSL_R_UNKNOWN_PROTOCOL:
      return Failure::kVersion;
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
      return Failure::kCipher;
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
      return Failure::kPlainHttp;
    case SSL_R_UNEXPECTED_EOF_WHILE_READING:
      return Failure::kEof;
    default:
      break;
  }
  const int reason = ERR_GET_REASON(e);
  if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) return Failure::kPeerAlert;
  return Failure::kOther;
}

}  // namespace

const char* FailureName(Failure f) {
  switch (f) {
    case Failure::kNone: return "none";
    case Failure::kTimeout: return "timeout";
    case Failure::kTooLarge: return "too_large";
    case Failure::kVersion: return "version";
    case Failure::kCipher: return "cipher";
    case Failure::kPlainHttp: return "plain_http";
    case Failure::kPeerAlert: return "peer_alert";
    case Failure::kEof: return "eof";
    case Failure::kOther: return "other";
    case Failure::kTooMany: return "too_many";
  }
  return "other";
}

TlsStream::TlsStream(SSL* ssl, int fd) : ssl_(ssl), shim_(new Shim{fd}) {
  BIO* bio = BIO_new(ShimMethod());
  BIO_set_data(bio, shim_);
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl_, bio, bio);
}

TlsStream::~TlsStream() {
  SSL_free(ssl_);  // frees the BIO
  delete shim_;
}

TlsStream::Io TlsStream::Classify(int ret, bool handshaking) {
  const int err = SSL_get_error(ssl_, ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return Io::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Io::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return Io::kClosed;
    default:
      break;
  }
  if (handshaking) {
    const unsigned long e = ERR_peek_error();
    failure_ = shim_->too_large ? Failure::kTooLarge
               : e == 0         ? Failure::kEof  // SSL_ERROR_SYSCALL with no error: the peer went away
                                : ReasonOf(e);
  }
  ERR_clear_error();
  return err == SSL_ERROR_SYSCALL && !handshaking ? Io::kClosed : Io::kFailed;
}

TlsStream::Io TlsStream::Handshake() {
  ERR_clear_error();
  shim_->more = true;  // a flight's records leave together, at its BIO_flush
  const int ret = SSL_do_handshake(ssl_);
  shim_->more = false;
  if (ret == 1 && !FlushHeld(shim_)) return errno == EAGAIN ? Io::kWantWrite : Io::kFailed;
  if (ret == 1) {
    done_ = true;
    shim_->handshaking = false;
    return Io::kDone;
  }
  return Classify(ret, true);
}

// Read and Write do not clear OpenSSL's error queue first: it is empty
// between operations, since every failure is classified (which clears it).
TlsStream::Io TlsStream::Read(char* buf, size_t cap, size_t* got) {
  *got = 0;
  if (SSL_read_ex(ssl_, buf, cap, got) == 1) return Io::kDone;
  return Classify(0, false);
}

TlsStream::Io TlsStream::Write(const void* data, size_t len, bool more, size_t* wrote) {
  *wrote = 0;
  shim_->more = more;
  const int ok = SSL_write_ex(ssl_, data, std::min(len, kRecord), wrote);
  shim_->more = false;
  if (ok == 1) return Io::kDone;
  return Classify(0, false);
}

bool TlsStream::has_pending() const { return SSL_has_pending(ssl_) == 1; }

bool TlsStream::drained() const { return shim_->drained && SSL_has_pending(ssl_) != 1; }

void TlsStream::Shutdown() {
  if (!done_) return;
  ERR_clear_error();
  SSL_shutdown(ssl_);
  FlushHeld(shim_);
  ERR_clear_error();
}

void TlsStream::ReleaseBuffers() {
  if (done_ && shim_->held.empty()) SSL_free_buffers(ssl_);  // refuses if a record is pending
}

const char* TlsStream::protocol() const { return SSL_get_version(ssl_); }

const char* TlsStream::cipher() const { return SSL_get_cipher_name(ssl_); }

bool TlsStream::resumed() const { return SSL_session_reused(ssl_) == 1; }

std::string_view TlsStream::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int len = 0;
  SSL_get0_alpn_selected(ssl_, &p, &len);
  return p == nullptr ? std::string_view() : std::string_view(reinterpret_cast<const char*>(p), len);
}

}  // namespace fc::tls
