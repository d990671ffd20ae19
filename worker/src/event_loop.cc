// The reactor of a worker thread: accept, read, write, timeouts, drain.
#include "event_loop.h"

#include "fc/base/log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>

namespace fc::worker {
namespace {
constexpr uint64_t kListenSerial = 0;
constexpr uint64_t kWakeupSerial = 1;
constexpr uint64_t kTlsListenSerial = 2;
constexpr size_t kMaxBufferedInput = 64 * 1024;
constexpr size_t kReadChunk = 16 * 1024;

std::string PeerName(const sockaddr_storage& addr) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    port = ntohs(in->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    port = ntohs(in6->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}
}  // namespace

EventLoop::EventLoop(ServeContext& context, uint32_t lane)
    : ctx_(context),
      counters_(context.cache.Counters(lane)),
      fc_session_(*this),
      http_session_(*this),
      responder_(*this),
      uploads_(*this) {}

Result<std::unique_ptr<EventLoop>> EventLoop::Create(ServeContext& context, uint32_t lane) {
  std::unique_ptr<EventLoop> loop(new EventLoop(context, lane));
  Status st = loop->Init();
  if (!st.ok()) return st;
  return loop;
}

Status EventLoop::Init() {
  epoll_.Reset(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_.valid()) return Status::FromErrno(errno, "epoll_create1", "event loop");
  wakeup_.Reset(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wakeup_.valid()) return Status::FromErrno(errno, "eventfd", "event loop");
  if (!WatchListeners(true)) return Status::FromErrno(errno, "epoll_ctl(ADD)", "listening socket");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeupSerial;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wakeup_.get(), &ev) != 0) {
    return Status::FromErrno(errno, "epoll_ctl(ADD)", "wakeup eventfd");
  }
  return Status::Ok();
}

EventLoop::~EventLoop() = default;

void EventLoop::BeginDrain(int64_t notice_until_ns, int64_t deadline_ns) {
  notice_request_.store(notice_until_ns);
  drain_request_.store(deadline_ns);
  const uint64_t one = 1;
  (void)!::write(wakeup_.get(), &one, sizeof(one));
}

void EventLoop::PostLoaded(uint64_t serial, LoadResult result) {
  {
    MutexLock lock(&loaded_mu_);
    loaded_.emplace_back(serial, std::move(result));
  }
  const uint64_t one = 1;
  (void)!::write(wakeup_.get(), &one, sizeof(one));
}

void EventLoop::Run() {
  epoll_event events[128];
  now_ns_ = MonotonicNowNs();
  for (;;) {
    const int64_t now = now_ns_;  // one clock read per wake-up
    if (!draining_ && drain_request_.load() != 0) {
      // Tell health checks first (503), keep serving, then drain.
      notice_until_ns_ = notice_request_.load();
      if (now >= notice_until_ns_) StartDrain();
    }
    if (draining_ && (conns_.empty() || now >= drain_deadline_ns_)) break;
    int timeout_ms = notice_until_ns_ != 0 && !draining_ ? 50 : 1000;
    if (accept_paused_) {
      timeout_ms = static_cast<int>(std::clamp<int64_t>((accept_resume_ns_ - now) / 1'000'000 + 1, 1, timeout_ms));
    }
    const int n = ::epoll_wait(epoll_.get(), events, 128, timeout_ms);
    now_ns_ = MonotonicNowNs();
    // Established connections first, then at most kHandshakesPerWake TLS
    // handshake steps (each may cost a signature and a key exchange): the
    // rest are level-triggered and come back at the next wait.
    constexpr int kHandshakesPerWake = 2;
    int handshakes = 0;
    int deferred[128];
    int deferred_count = 0;
    for (int i = 0; i < n; ++i) {
      const uint64_t serial = events[i].data.u64;
      if (serial <= kTlsListenSerial) {
        OnEvent(events[i]);
        continue;
      }
      auto it = conns_.find(serial);  // one lookup per event, TLS or not
      if (it == conns_.end()) continue;
      if (it->second->state == Connection::State::kHandshake) {
        deferred[deferred_count++] = i;
        continue;
      }
      OnConnectionEvent(*it->second, events[i].events);
    }
    for (int k = 0; k < deferred_count && handshakes < kHandshakesPerWake; ++k, ++handshakes) {
      OnEvent(events[deferred[k]]);
    }
    if (accept_paused_ && now_ns_ >= accept_resume_ns_) ResumeAccept();
    if (now_ns_ - last_sweep_ns_ > 1'000'000'000LL) Sweep();
  }
  ctx_.connections.fetch_sub(static_cast<int>(conns_.size()));
  conns_.clear();
  DeliverLoaded();  // releases pins of results nobody waits for any more
}

bool EventLoop::WatchListeners(bool watch) {
  const std::pair<int, uint64_t> listeners[] = {{ctx_.listen_fd, kListenSerial},
                                                {ctx_.tls_listen_fd, kTlsListenSerial}};
  for (const auto& [fd, serial] : listeners) {
    if (fd < 0) continue;
    if (!watch) {
      ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      continue;
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLEXCLUSIVE;
    ev.data.u64 = serial;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      if (serial == kTlsListenSerial) ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, ctx_.listen_fd, nullptr);
      return false;
    }
  }
  return true;
}

void EventLoop::OnEvent(const epoll_event& event) {
  const uint64_t serial = event.data.u64;
  if (serial == kListenSerial || serial == kTlsListenSerial) {
    if (!draining_) Accept(serial == kListenSerial ? ctx_.listen_fd : ctx_.tls_listen_fd, serial == kTlsListenSerial);
  } else if (serial == kWakeupSerial) {
    uint64_t count;
    (void)!::read(wakeup_.get(), &count, sizeof(count));
    DeliverLoaded();
  } else {
    auto it = conns_.find(serial);
    if (it != conns_.end()) OnConnectionEvent(*it->second, event.events);
  }
}

void EventLoop::Accept(int listen_fd, bool tls) {
  for (int i = 0; i < (tls ? 16 : 64); ++i) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EINTR || errno == ECONNABORTED) return;
      // Out of descriptors while files are kept open for misses: connections first.
      if ((errno == EMFILE || errno == ENFILE) && ctx_.open_files.size() > 0) {
        ctx_.open_files.Shrink();
        continue;
      }
      return PauseAccept(errno);  // EMFILE, ENFILE, ENOBUFS, ENOMEM: the kernel keeps the backlog
    }
    if (ctx_.connections.fetch_add(1) >= ctx_.config.max_connections) {
      ctx_.connections.fetch_sub(1);
      const int64_t now = MonotonicNowNs();
      if (now - last_limit_log_ns_ > 1'000'000'000LL) {
        last_limit_log_ns_ = now;
        log::Line("connection limit (", ctx_.config.max_connections, ") reached; closing new ones");
      }
      ::close(fd);  // over --max-connections: refuse rather than degrade everyone
      continue;
    }
    if (tls && ctx_.handshakes.load(std::memory_order_relaxed) >= ctx_.config.tls_max_handshakes) {
      ctx_.connections.fetch_sub(1);
      counters_.tls_handshakes[shm_cache::kTlsResumed + static_cast<int>(tls::Failure::kTooMany)].fetch_add(
          1, std::memory_order_relaxed);
      ::close(fd);  // a handshake flood: the established connections come first
      continue;
    }
    auto c = std::make_unique<Connection>();
    c->fd.Reset(fd);
    c->serial = next_serial_++;
    c->peer = PeerName(addr);
    c->last_activity_ns = c->accepted_ns = MonotonicNowNs();
    if (tls) {
      // A handshake is a conversation of small flights: none may wait for an
      // ACK (Nagle). fc's BIO coalesces what belongs together (stream.h).
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      c->tls = std::make_unique<tls::TlsStream>(ctx_.tls->NewConnection(), fd);
      c->state = Connection::State::kHandshake;
      ctx_.handshakes.fetch_add(1, std::memory_order_relaxed);
    }
    Connection& ref = *c;
    conns_.emplace(c->serial, std::move(c));
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = ref.serial;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      log::Line(ref.peer, ": closing connection: ",
                Status::FromErrno(errno, "epoll_ctl(ADD)", "its socket").message());
      Close(ref);
      continue;
    }
    ref.interest = EPOLLIN;
    // The listening socket defers accept until data arrives (TCP_DEFER_ACCEPT),
    // so the request is usually here already: serve it without another wait.
    // Not a TLS handshake: that waits its turn behind established
    // connections (Run), so that a flood of them cannot delay their requests.
    if (!tls) OnConnectionEvent(ref, EPOLLIN);
  }
}

namespace {
constexpr int64_t kAcceptPauseNs = 100'000'000;  // nginx waits 500 ms; a freed descriptor ends it sooner
constexpr int64_t kAcceptLogEveryNs = 10'000'000'000LL;
}  // namespace

void EventLoop::PauseAccept(int error) {
  const int64_t now = MonotonicNowNs();
  if (!accept_paused_) {
    WatchListeners(false);
    accept_paused_ = true;
  }
  accept_resume_ns_ = now + kAcceptPauseNs;
  if (now - last_accept_log_ns_ < kAcceptLogEveryNs && last_accept_log_ns_ != 0) {
    ++accept_errors_unlogged_;
    return;
  }
  const uint64_t unlogged = accept_errors_unlogged_;
  accept_errors_unlogged_ = 0;
  last_accept_log_ns_ = now;
  log::Line(Status::FromErrno(error, "accept4", "listening socket").message(),
            "; not accepting for ", kAcceptPauseNs / 1'000'000, " ms or until a connection closes",
            unlogged != 0 ? " (" + std::to_string(unlogged) + " more since the last such line)" : "");
}

void EventLoop::ResumeAccept() {
  if (!accept_paused_ || draining_) return;
  if (!WatchListeners(true)) {
    accept_resume_ns_ = now_ns_ + kAcceptPauseNs;  // out of memory: try again later
    return;
  }
  accept_paused_ = false;
}

void EventLoop::SetInterest(Connection& c, uint32_t events) {
  if (c.interest == events) return;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = c.serial;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) != 0) {
    // Cannot happen for a live socket (EBADF, ENOMEM): give the connection up;
    // the sweep closes it if nothing else does first.
    log::Line(c.peer, ": ", Status::FromErrno(errno, "epoll_ctl(MOD)", "its socket").message());
    c.close_after = true;
    c.last_activity_ns = 0;
    return;
  }
  c.interest = events;
}

void EventLoop::AwaitLoader(Connection& c) {
  c.state = Connection::State::kWaiting;
  SetInterest(c, 0);
}

void EventLoop::Close(Connection& c) {
  // No EPOLL_CTL_DEL: closing the only descriptor of the socket removes it.
  ctx_.connections.fetch_sub(1);
  if (c.tls) {
    if (c.state == Connection::State::kHandshake) {
      ctx_.handshakes.fetch_sub(1, std::memory_order_relaxed);
    } else {
      c.tls->Shutdown();  // close_notify, if the socket takes it now
    }
  }
  conns_.erase(c.serial);  // destroys c: closes the socket, unpins, closes the file
  ResumeAccept();          // a descriptor is free again
}

void EventLoop::OnConnectionEvent(Connection& c, uint32_t events) {
  c.last_activity_ns = now_ns_;
  if (c.state == Connection::State::kHandshake && !Handshake(c)) return;
  if (c.state == Connection::State::kReading || c.state == Connection::State::kUploading) {
    if (!ReadInput(c)) return Close(c);  // an unfinished upload vanishes with it
  } else if (c.state == Connection::State::kWaiting) {
    // Gone while its file loads: close now; the load result will be dropped.
    if (events & (EPOLLHUP | EPOLLERR)) Close(c);
    return;
  }
  Drive(c);
}

bool EventLoop::Handshake(Connection& c) {
  switch (c.tls->Handshake()) {
    case tls::TlsStream::Io::kDone:
      ctx_.handshakes.fetch_sub(1, std::memory_order_relaxed);
      counters_.tls_handshakes[c.tls->resumed() ? shm_cache::kTlsResumed : shm_cache::kTlsFull].fetch_add(
          1, std::memory_order_relaxed);
      c.state = Connection::State::kReading;
      SetInterest(c, EPOLLIN);
      return true;  // the request may be in OpenSSL's buffer already: read on
    case tls::TlsStream::Io::kWantRead:
      SetInterest(c, EPOLLIN);
      return false;
    case tls::TlsStream::Io::kWantWrite:
      SetInterest(c, EPOLLOUT);
      return false;
    case tls::TlsStream::Io::kClosed:
    case tls::TlsStream::Io::kFailed:
      break;
  }
  counters_.tls_handshakes[shm_cache::kTlsResumed + static_cast<int>(c.tls->failure())].fetch_add(
      1, std::memory_order_relaxed);
  Close(c);
  return false;
}

void EventLoop::Drive(Connection& c) {
  for (;;) {
    switch (c.state) {
      case Connection::State::kHandshake:
        return;
      case Connection::State::kUploading:
        uploads_.Consume(c);
        if (c.state == Connection::State::kUploading) return;  // more body to come
        break;
      case Connection::State::kReading:
        // Plaintext OpenSSL holds is no event for epoll: take it now.
        if (c.tls && c.tls->has_pending() && !ReadInput(c)) return Close(c);
        if (c.close_after || (draining_ && c.in_pos == c.in.size())) return Close(c);
        ProcessInput(c);
        if (c.state == Connection::State::kReading) {
          if (c.close_after) Close(c);
          return;  // waiting for the rest of a request
        }
        break;
      case Connection::State::kWaiting:
        return;  // a loader has it
      case Connection::State::kWriting:
        if (!Pump(c)) return Close(c);
        if (c.state == Connection::State::kWriting) return;  // socket full; EPOLLOUT armed
        break;
    }
  }
}

bool EventLoop::ReadInput(Connection& c) {
  if (c.in_pos == c.in.size()) {
    c.in.clear();
    c.in_pos = 0;
  }
  // Read into the loop's scratch buffer and keep only what arrived: an idle
  // connection then costs no buffer at all.
  if (read_scratch_.size() < kReadChunk) read_scratch_.resize(kReadChunk);
  while (c.in.size() - c.in_pos < kMaxBufferedInput) {
    // At most --max-queued pipelined requests wait per connection; the rest
    // stay in the socket (and, when it fills, in the client).
    if (c.state == Connection::State::kReading &&
        CountQueued(c) >= static_cast<size_t>(ctx_.config.max_queued)) {
      return true;
    }
    if (c.tls) {
      size_t got = 0;
      switch (c.tls->Read(read_scratch_.data(), kReadChunk, &got)) {
        case tls::TlsStream::Io::kDone:
          c.in.append(read_scratch_.data(), got);
          // Until OpenSSL has nothing more (it may hold a whole record), but
          // no recv that would only say EAGAIN.
          if (c.tls->drained()) return true;
          continue;
        case tls::TlsStream::Io::kWantRead:
        case tls::TlsStream::Io::kWantWrite:  // a key update's reply: sent on the next write
          return true;
        case tls::TlsStream::Io::kClosed:
        case tls::TlsStream::Io::kFailed:
          return false;
      }
    }
    const ssize_t n = ::recv(c.fd.get(), read_scratch_.data(), kReadChunk, 0);
    if (n <= 0) {
      if (n == 0) return false;  // peer closed
      if (errno == EAGAIN) return true;
      if (errno == EINTR) continue;
      return false;
    }
    c.in.append(read_scratch_.data(), static_cast<size_t>(n));
    if (static_cast<size_t>(n) < kReadChunk) return true;
  }
  return true;
}

namespace {
// Whether the connection ends with this reply because the client said so
// (Connection: close, or HTTP/1.0 without keep-alive) and nothing it sent is
// left unread. Then the reply's last segment may wait for the FIN: closing a
// socket with unread input sends a reset instead, which would drop a reply
// still held back, so a refusal (its request's rest unread), a drain (the
// client may have sent more) and input still buffered never wait.
bool ClientEndsHere(const Connection& c) {
  return c.close_after && c.proto == Connection::Proto::kHttp && !c.ex.http_keep_alive && c.ex.status < 400 &&
         c.in_pos == c.in.size() && c.discard_left == 0;
}
}  // namespace

bool EventLoop::Pump(Connection& c) {
  if (ClientEndsHere(c)) c.response.EndWithFin(c.fd.get());
  switch (c.response.Write(c.fd.get(), c.tls.get())) {
    case Response::Progress::kDone:
      FinishResponse(c);
      return true;
    case Response::Progress::kBlocked:
      SetInterest(c, EPOLLOUT);
      return true;
    case Response::Progress::kFailed:
      break;
  }
  return false;
}

void EventLoop::FinishResponse(Connection& c) {
  RecordRequest(c);
  c.response.Clear(c.fd.get());
  // Keep-alive: from the second response on, small replies must not wait for
  // the client's delayed ACK (Nagle). A one-shot connection never pays for it.
  if (++c.served == 1 && !c.close_after) {
    int one = 1;
    ::setsockopt(c.fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  c.ex.multipart.reset();
  if (c.in_pos == c.in.size() && c.in.capacity() > 4096) std::string().swap(c.in);
  c.state = Connection::State::kReading;
  SetInterest(c, EPOLLIN);
}

void EventLoop::DeliverLoaded() {
  std::vector<std::pair<uint64_t, LoadResult>> batch;
  {
    MutexLock lock(&loaded_mu_);
    batch.swap(loaded_);
  }
  for (auto& [serial, result] : batch) {
    auto it = conns_.find(serial);
    if (it == conns_.end()) continue;  // client left; `result` releases its pin
    Connection& c = *it->second;
    if (c.ex.is_upload) {
      uploads_.OnWritten(c, std::move(result));
    } else if (c.ex.how == Outcome::kListing) {  // only a listing waits with this outcome
      http_session_.OnListed(c, std::move(result));
    } else {
      responder_.OnLoaded(c, std::move(result));
    }
    Drive(c);
  }
}

void EventLoop::Sweep() {
  const int64_t now = MonotonicNowNs();
  last_sweep_ns_ = now;
  ctx_.open_files.CloseIdle(now);
  const int64_t idle_ns = int64_t{ctx_.config.idle_timeout_ms} * 1'000'000;
  const int64_t write_ns = int64_t{ctx_.config.write_timeout_ms} * 1'000'000;
  const int64_t request_ns = int64_t{ctx_.config.request_timeout_ms} * 1'000'000;
  std::vector<Connection*> expired;
  for (auto& [serial, c] : conns_) {
    const int64_t quiet = now - c->last_activity_ns;
    // An idle TLS connection holds no record buffers (about 34 KiB each).
    if (c->tls && c->state == Connection::State::kReading && quiet > 1'000'000'000LL) c->tls->ReleaseBuffers();
    const bool stuck_request = c->state == Connection::State::kReading &&
                               c->request_started_ns != 0 &&
                               now - c->request_started_ns > request_ns;
    // An upload must keep a minimum average rate once past its first 10 s.
    const int64_t upload_age = c->ex.put ? now - c->ex.put->started_ns : 0;
    const bool slow_upload =
        c->state == Connection::State::kUploading && ctx_.config.upload_min_rate > 0 && c->ex.put &&
        upload_age > 10'000'000'000LL &&
        static_cast<double>(c->ex.put->queued) * 1e9 / static_cast<double>(upload_age) <
            static_cast<double>(ctx_.config.upload_min_rate);
    const bool slow_handshake = c->state == Connection::State::kHandshake &&
                                now - c->accepted_ns > int64_t{ctx_.config.tls_handshake_timeout_ms} * 1'000'000;
    if ((c->state == Connection::State::kReading && quiet > idle_ns) || stuck_request || slow_upload ||
        slow_handshake ||
        (c->state == Connection::State::kUploading && quiet > idle_ns) ||
        (c->state == Connection::State::kWriting && quiet > write_ns)) {
      expired.push_back(c.get());
    }
  }
  for (Connection* c : expired) {
    if (c->state == Connection::State::kHandshake) {
      // A slowloris over TLS: counted, not logged one by one.
      counters_.tls_handshakes[shm_cache::kTlsResumed + static_cast<int>(tls::Failure::kTimeout)].fetch_add(
          1, std::memory_order_relaxed);
      Close(*c);
      continue;
    }
    const bool slow = c->request_started_ns != 0 && c->state == Connection::State::kReading;
    log::Line(c->peer, ": closing connection: ",
              slow ? "request still incomplete"
              : c->state == Connection::State::kWriting   ? "client not reading"
              : c->state == Connection::State::kUploading ? "upload stalled or below --upload-min-rate"
                                                          : "idle",
              " for ", (now - (slow ? c->request_started_ns : c->last_activity_ns)) / 1000000, " ms");
    Close(*c);
  }
}

void EventLoop::StartDrain() {
  draining_ = true;
  drain_deadline_ns_ = drain_request_.load();
  WatchListeners(false);
  drain_started_.store(true);
  std::vector<Connection*> idle;
  for (auto& [serial, c] : conns_) {
    // A TLS handshake is a new client, not an idle one: it finishes, its
    // first request is answered (with Connection: close), or it times out.
    if (c->state == Connection::State::kHandshake) continue;
    if (c->state == Connection::State::kReading) {
      idle.push_back(c.get());  // between requests (or mid-way through sending one)
    } else {
      c->close_after = true;
    }
  }
  for (Connection* c : idle) Close(*c);
}

}  // namespace fc::worker
