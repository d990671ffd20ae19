// Response: writev of the head with bytes or packets, sendfile of a file span,
// the parts of a multipart body one after another.
#include "response.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "fc/base/crash_point.h"

namespace fc::worker {
namespace {
constexpr uint64_t kMaxWriteBurst = 4 << 20;  // per writev/sendfile call
constexpr int kMaxIov = 64;

void SetCork(int fd, bool on) {
  int value = on ? 1 : 0;
  ::setsockopt(fd, IPPROTO_TCP, TCP_CORK, &value, sizeof(value));
}
}  // namespace

void Response::SetBytes(std::string bytes) {
  bytes_ = std::move(bytes);
  bytes_sent_in_body_ = 0;
}

void Response::SetPackets(const shm_cache::ShmCache& cache, shm_cache::PinnedEntry pin, uint64_t offset,
                          uint64_t length) {
  cache_ = &cache;
  pin_ = std::move(pin);
  reader_.emplace(cache, pin_, offset);
  body_left_ = length;
}

void Response::SetFile(SharedFd file, uint64_t offset, uint64_t length) {
  file_ = std::move(file);
  file_offset_ = static_cast<off_t>(offset);
  body_left_ = length;
}

void Response::SetParts(std::vector<http::ByteSpan> spans, std::vector<std::string> part_heads) {
  parts_ = std::make_unique<Parts>();
  parts_->spans = std::move(spans);
  parts_->heads = std::move(part_heads);
}

bool Response::NextPart() {
  if (!parts_ || parts_->part == parts_->spans.size()) return false;  // none, or closed
  Parts& p = *parts_;
  if (++p.part < p.spans.size()) {
    const http::ByteSpan& span = p.spans[p.part];
    if (reader_) {
      reader_.emplace(*cache_, pin_, span.first);
    } else {
      file_offset_ = static_cast<off_t>(span.first);
    }
    body_left_ = span.length();
  }
  head_ = p.heads[p.part];  // the next part's header, or the closing boundary
  head_sent_ = 0;
  return true;
}

Response::Progress Response::Sendfile(int fd) {
  for (;;) {
    if (!corked_ && body_left_ > kMaxWriteBurst) {
      SetCork(fd, true);  // only full segments while a big file streams
      corked_ = true;
    }
    const size_t asked = std::min(body_left_, kMaxWriteBurst);
    const ssize_t wrote = ::sendfile(fd, file_.get(), &file_offset_, asked);
    if (wrote == 0) return Progress::kFailed;  // the file shrank: the client sees a short body
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? Progress::kBlocked : Progress::kFailed;
    }
    body_left_ -= static_cast<uint64_t>(wrote);
    bytes_sent_ += static_cast<uint64_t>(wrote);
    // A short write means a full socket: wait until it drains a good part
    // (EPOLLOUT) rather than trickle in whatever was freed meanwhile.
    if (body_left_ == 0) return Progress::kDone;
    if (static_cast<size_t>(wrote) < asked) return Progress::kBlocked;
  }
}

void Response::EndWithFin(int fd) {
  if (fin_) return;
  fin_ = true;
  if (!corked_) SetCork(fd, true);
  corked_ = true;
}

Response::Progress Response::TlsWritev(tls::TlsStream& tls, const iovec* iov, int n, size_t* wrote) {
  constexpr size_t kRecord = 16 * 1024;
  *wrote = 0;
  // A reply that fits one record (a small hit's head and body) is gathered
  // into one: one AEAD pass and one record instead of two. That costs a copy
  // of at most 16 KiB into the loop's buffer, besides OpenSSL's own into its
  // record buffer, and measured 0.79-0.84x nginx's CPU per 4 KiB hit
  // against 0.85-0.91x as two records (docs/tls.md). A larger body goes
  // record by record straight from the segment's packets.
  size_t total = 0;
  for (int i = 0; i < n; ++i) total += iov[i].iov_len;
  if (n > 1 && total <= kRecord) {
    thread_local std::string gathered;  // one per loop thread
    gathered.clear();
    for (int i = 0; i < n; ++i) gathered.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
    size_t took = 0;
    switch (tls.Write(gathered.data(), gathered.size(), false, &took)) {
      case tls::TlsStream::Io::kDone:
        *wrote = took;
        return Progress::kDone;
      case tls::TlsStream::Io::kWantRead:
      case tls::TlsStream::Io::kWantWrite:
        return Progress::kBlocked;  // the same bytes are gathered again for the retry
      case tls::TlsStream::Io::kClosed:
      case tls::TlsStream::Io::kFailed:
        return Progress::kFailed;
    }
  }
  for (int i = 0; i < n; ++i) {
    const char* p = static_cast<const char*>(iov[i].iov_base);
    size_t left = iov[i].iov_len;
    while (left > 0) {
      size_t took = 0;
      // `more` while more follows at once: the head's record waits in the
      // BIO and leaves with the body's in one sendmsg, though each is its
      // own record.
      const bool more = left > kRecord || i + 1 < n;
      switch (tls.Write(p, left, more, &took)) {
        case tls::TlsStream::Io::kDone:
          p += took;
          left -= took;
          *wrote += took;
          continue;
        case tls::TlsStream::Io::kWantRead:  // renegotiation is off: only a full socket
        case tls::TlsStream::Io::kWantWrite:
          return Progress::kBlocked;
        case tls::TlsStream::Io::kClosed:
        case tls::TlsStream::Io::kFailed:
          return *wrote > 0 ? Progress::kBlocked : Progress::kFailed;  // the next write tells
      }
    }
  }
  return Progress::kDone;
}

Response::Progress Response::TlsFile(tls::TlsStream& tls) {
  constexpr size_t kChunk = 16 * 1024;  // one record
  for (;;) {
    if (chunk_sent_ == file_chunk_.size()) {
      if (body_left_ == 0) return Progress::kDone;
      file_chunk_.resize(std::min<uint64_t>(kChunk, body_left_));
      ssize_t got;
      do {
        got = ::pread(file_.get(), file_chunk_.data(), file_chunk_.size(), file_offset_);
      } while (got < 0 && errno == EINTR);
      if (got <= 0) return Progress::kFailed;  // the file shrank or cannot be read: a short body
      file_chunk_.resize(static_cast<size_t>(got));
      file_offset_ += got;
      chunk_sent_ = 0;
    }
    size_t took = 0;
    const bool more = body_left_ > file_chunk_.size() - chunk_sent_;
    switch (tls.Write(file_chunk_.data() + chunk_sent_, file_chunk_.size() - chunk_sent_, more, &took)) {
      case tls::TlsStream::Io::kDone:
        chunk_sent_ += took;
        body_left_ -= took;
        bytes_sent_ += took;
        continue;
      case tls::TlsStream::Io::kWantRead:
      case tls::TlsStream::Io::kWantWrite:
        return Progress::kBlocked;
      case tls::TlsStream::Io::kClosed:
      case tls::TlsStream::Io::kFailed:
        return Progress::kFailed;
    }
  }
}

Response::Progress Response::Write(int fd, tls::TlsStream* tls) {
  for (;;) {
    iovec iov[kMaxIov + 2];
    int n = 0;
    if (head_sent_ < head_.size()) iov[n++] = {head_.data() + head_sent_, head_.size() - head_sent_};
    if (bytes_sent_in_body_ < bytes_.size()) {
      iov[n++] = {bytes_.data() + bytes_sent_in_body_, bytes_.size() - bytes_sent_in_body_};
    } else if (reader_ && body_left_ > 0) {
      n += reader_->Fill(iov + n, kMaxIov, std::min(body_left_, kMaxWriteBurst));
    }
    if (n == 0) {
      if (file_.valid() && body_left_ > 0) {
        const Progress p = tls != nullptr ? TlsFile(*tls) : Sendfile(fd);
        if (p != Progress::kDone) return p;
        continue;  // the part's span is sent: the next part, or done
      }
      if (NextPart()) continue;
      return Progress::kDone;
    }
    size_t asked = 0;
    for (int i = 0; i < n; ++i) asked += iov[i].iov_len;
    ssize_t wrote;
    if (tls != nullptr) {
      size_t took = 0;
      const Progress p = TlsWritev(*tls, iov, n, &took);
      if (p == Progress::kFailed) return p;
      wrote = static_cast<ssize_t>(took);
    } else {
      wrote = ::writev(fd, iov, n);
    }
    if (wrote < 0) {
      if (errno == EINTR) continue;
      return errno == EAGAIN ? Progress::kBlocked : Progress::kFailed;
    }
    size_t left = static_cast<size_t>(wrote);
    const size_t from_head = std::min(left, head_.size() - head_sent_);
    head_sent_ += from_head;
    left -= from_head;
    if (bytes_sent_in_body_ < bytes_.size()) {
      bytes_sent_in_body_ += left;
    } else if (reader_) {
      reader_->Advance(left);
      body_left_ -= left;
      if (left > 0) crash::At(crash::Point::kMidSend);
    }
    bytes_sent_ += left;
    if (static_cast<size_t>(wrote) < asked) return Progress::kBlocked;  // full socket: see Sendfile
  }
}

void Response::Clear(int fd) {
  if (corked_ && !fin_) SetCork(fd, false);  // after EndWithFin, close() sends what is held
  corked_ = false;
  fin_ = false;
  head_.clear();
  head_sent_ = 0;
  if (bytes_.capacity() > 4096) {
    std::string().swap(bytes_);
  } else {
    bytes_.clear();
  }
  bytes_sent_in_body_ = 0;
  reader_.reset();
  pin_.Release();
  file_.Reset();
  if (file_chunk_.capacity() > 0) std::string().swap(file_chunk_);
  chunk_sent_ = 0;
  file_offset_ = 0;
  body_left_ = 0;
  bytes_sent_ = 0;
  parts_.reset();
}

}  // namespace fc::worker
