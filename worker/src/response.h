// Internal header: Response, one reply on its way to a client's socket. It is
// the mechanism half of a reply (nginx's output chain, h2o's generator): a head
// (an fc reply header, or an HTTP status line and fields) and then one body
// source — bytes made in memory, a pinned entry's packets (writev straight
// from the segment), a span of an open file (sendfile), or the parts of a
// multipart/byteranges body over either. It knows no protocol and no cache
// policy: the sessions decide what to send, Response only sends it.
// Not thread-safe; owned by one Connection on its loop's thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fc/base/unique_fd.h"
#include "fc/protocol/http.h"
#include "fc/shm_cache/cache.h"
#include "fc/tls/stream.h"

namespace fc::worker {

class Response {
 public:
  enum class Progress {
    kDone,     // head and body are all in the socket
    kBlocked,  // the socket is full: wait for EPOLLOUT, then Write again
    kFailed,   // the peer is gone, or the file shrank under a sendfile
  };

  // The head, written before any body. Set it before Write.
  std::string& head() { return head_; }

  // The body sources; each replaces whatever body was set before.
  void SetBytes(std::string bytes);
  // `length` bytes from byte `offset` of a pinned entry (the pin is held until Clear).
  void SetPackets(const shm_cache::ShmCache& cache, shm_cache::PinnedEntry pin, uint64_t offset,
                  uint64_t length);
  // `length` bytes from byte `offset` of an open file.
  void SetFile(SharedFd file, uint64_t offset, uint64_t length);
  // multipart/byteranges over the source set last (packets or file): part i
  // is `part_heads[i]` and then span i; `part_heads` has one more element,
  // the closing boundary. The head must already end with part_heads[0].
  void SetParts(std::vector<http::ByteSpan> spans, std::vector<std::string> part_heads);

  // Writes until done, or the socket is full, or it fails. TCP_CORK is on
  // while a big file streams (nginx's tcp_nopush). Over TLS (`tls` set) a
  // reply that fits one 16 KiB record is gathered into one; otherwise each
  // head, bytes or packet span is SSL_written straight from where it lies,
  // and a file span is read 16 KiB at a time into the one buffer a TLS
  // stream of a file needs.
  Progress Write(int fd, tls::TlsStream* tls = nullptr);
  // The connection closes after this reply: keep its last segment corked,
  // so that close() sends it with the FIN (one packet for the client to
  // take, not a data segment and then a FIN). Call before Write.
  void EndWithFin(int fd);
  // Drops the head and every body source (unpins, closes the file), and
  // uncorks `fd` if this reply corked it. Ready for the next reply.
  void Clear(int fd);

  // Body bytes written so far (the head not counted), for the access log.
  uint64_t body_bytes_sent() const { return bytes_sent_; }
  // The pin of the packets being sent (empty when the body is not from the cache).
  const shm_cache::PinnedEntry& pin() const { return pin_; }

 private:
  struct Parts {
    std::vector<http::ByteSpan> spans;
    std::vector<std::string> heads;
    size_t part = 0;
  };
  // Moves to the next part of a multipart body; false when none is left.
  bool NextPart();
  Progress Sendfile(int fd);
  Progress TlsFile(tls::TlsStream& tls);
  // The iovecs through TLS, as writev would take them: *wrote bytes.
  Progress TlsWritev(tls::TlsStream& tls, const struct iovec* iov, int n, size_t* wrote);

  std::string head_;
  size_t head_sent_ = 0;
  std::string bytes_;
  size_t bytes_sent_in_body_ = 0;
  const shm_cache::ShmCache* cache_ = nullptr;
  shm_cache::PinnedEntry pin_;
  std::optional<shm_cache::PacketReader> reader_;
  SharedFd file_;
  off_t file_offset_ = 0;
  uint64_t body_left_ = 0;  // of the current part (packets or file)
  uint64_t bytes_sent_ = 0;
  std::unique_ptr<Parts> parts_;
  std::string file_chunk_;  // TLS: file bytes read, not yet all written
  size_t chunk_sent_ = 0;
  bool corked_ = false;
  bool fin_ = false;  // EndWithFin: the cork stays on until the close
};

}  // namespace fc::worker
