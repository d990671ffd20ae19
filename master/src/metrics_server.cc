// The Prometheus endpoint; see metrics_server.h.
#include "metrics_server.h"

#include "fc/tls/stream.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>

#include "fc/base/clock.h"
#include "fc/base/net.h"
#include "listeners.h"

namespace fc::master {
namespace {

constexpr size_t kMaxConnections = 16;
constexpr size_t kMaxRequest = 8192;
constexpr int64_t kConnectionNs = 5'000'000'000;

const char* const kProtoNames[] = {"http", "fc"};
const char* const kOpNames[] = {"get", "head", "put", "list", "options", "other"};

void Family(std::string* out, const char* name, const char* type, const char* help) {
  *out += "# HELP ";
  *out += name;
  *out += ' ';
  *out += help;
  *out += "\n# TYPE ";
  *out += name;
  *out += ' ';
  *out += type;
  *out += '\n';
}

void Sample(std::string* out, const char* name, const std::string& labels, uint64_t value) {
  *out += name;
  if (!labels.empty()) *out += "{" + labels + "}";
  *out += ' ';
  *out += std::to_string(value);
  *out += '\n';
}

void One(std::string* out, const char* name, const char* type, const char* help, uint64_t value) {
  Family(out, name, type, help);
  Sample(out, name, "", value);
}

void HistogramFamily(std::string* out, const char* name, const char* help, const shm_cache::Histogram& h) {
  Family(out, name, "histogram", help);
  uint64_t cumulative = 0;
  const std::string bucket = std::string(name) + "_bucket";
  for (int b = 0; b < shm_cache::kLatencyBuckets; ++b) {
    cumulative += h.buckets[b].load(std::memory_order_relaxed);
    char le[32];
    if (b + 1 < shm_cache::kLatencyBuckets) {
      std::snprintf(le, sizeof(le), "le=\"%g\"", static_cast<double>(shm_cache::kLatencyBoundsUs[b]) / 1e6);
    } else {
      std::snprintf(le, sizeof(le), "le=\"+Inf\"");
    }
    Sample(out, bucket.c_str(), le, cumulative);
  }
  char sum[64];
  std::snprintf(sum, sizeof(sum), "%s_sum %.9f\n", name,
                static_cast<double>(h.sum_ns.load(std::memory_order_relaxed)) / 1e9);
  *out += sum;
  // _count must equal the +Inf bucket: derive it from the same reads.
  Sample(out, (std::string(name) + "_count").c_str(), "", cumulative);
}

std::string Reply(int status, const char* reason, const std::string& type, const std::string& body) {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason + "\r\nContent-Type: " + type +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
}

}  // namespace

std::string RenderMetrics(const MetricsSource& source, uint64_t worker_restarts) {
  auto counters = std::make_unique<shm_cache::WorkerCounters>();
  source.cache->SumCounters(counters.get());
  const shm_cache::CacheTotals t = source.cache->PeekTotals();
  std::string out;
  out.reserve(16384);
  Family(&out, "fc_requests_total", "counter", "Responses sent, by protocol, operation and HTTP status "
         "(an fc protocol reply's code mapped to its HTTP equivalent).");
  for (int p = 0; p < shm_cache::kCountedProtos; ++p) {
    for (int o = 0; o < shm_cache::kCountedOps; ++o) {
      for (int s = 0; s < shm_cache::kStatusKinds; ++s) {
        const uint64_t n = counters->requests[p][o][s].load(std::memory_order_relaxed);
        if (n == 0) continue;
        const std::string status = s + 1 < shm_cache::kStatusKinds
                                       ? std::to_string(shm_cache::kCountedStatuses[s])
                                       : std::string("other");
        Sample(&out, "fc_requests_total",
               std::string("protocol=\"") + kProtoNames[p] + "\",op=\"" + kOpNames[o] + "\",status=\"" +
                   status + "\"",
               n);
      }
    }
  }
  One(&out, "fc_sent_bytes_total", "counter", "Body bytes sent.", counters->bytes_sent.load());
  One(&out, "fc_streams_total", "counter", "Responses sent from disk instead of the cache.",
      counters->streams.load());
  One(&out, "fc_streamed_bytes_total", "counter", "Body bytes sent from disk instead of the cache.",
      counters->streamed_bytes.load());
  One(&out, "fc_cache_hits_total", "counter", "Lookups that found a fresh cached copy.", t.hits);
  One(&out, "fc_cache_misses_total", "counter", "Lookups that did not.", t.misses);
  One(&out, "fc_cache_loads_total", "counter", "Files loaded into the cache.", t.loads);
  One(&out, "fc_cache_evictions_total", "counter", "Entries evicted to make room.", t.evictions);
  One(&out, "fc_cache_evicted_bytes_total", "counter", "File bytes of evicted entries.", t.evicted_bytes);
  One(&out, "fc_cache_loaded_bytes_total", "counter", "File bytes loaded into the cache.", t.loaded_bytes);
  One(&out, "fc_cache_stale_drops_total", "counter", "Cached copies dropped because the file changed.",
      t.stale_drops);
  One(&out, "fc_cache_not_admitted_total", "counter", "Misses the admission policy sent to disk.",
      t.not_admitted);
  One(&out, "fc_cache_capacity_bytes", "gauge", "Bytes of file data the cache can hold.", t.capacity);
  One(&out, "fc_cache_used_bytes", "gauge", "Bytes of the cache in use.", t.used);
  One(&out, "fc_cache_free_bytes", "gauge", "Bytes of the cache free.", t.free);
  One(&out, "fc_cache_entries", "gauge", "Entries in the cache.", t.entries);
  One(&out, "fc_cache_pins", "gauge", "Transfers reading a cached entry right now.", t.pins);
  One(&out, "fc_cache_reclaimed_pins_total", "counter", "Pins of dead workers released.", t.reclaimed_pins);
  One(&out, "fc_lock_repairs_total", "counter",
      "Repairs of the segment after a process died holding its lock.", t.repairs);
  One(&out, "fc_cache_generation", "gauge",
      "Segment generation: goes up with every repair, voiding older reservations.", t.generation);
  One(&out, "fc_lock_timeouts_total", "counter",
      "Waits for the segment lock that gave up (the request was streamed).", t.lock_timeouts);
  One(&out, "fc_worker_restarts_total", "counter", "Workers that died and were replaced by this master.",
      worker_restarts);
  One(&out, "fc_workers", "gauge", "Worker processes configured.", source.workers);
  One(&out, "fc_segment_layout_version", "gauge", "Layout version of the shared segment.", t.layout_version);
  Family(&out, "fc_tls_handshakes_total", "counter",
         "TLS handshakes completed: in full, or resumed from a session ticket.");
  Sample(&out, "fc_tls_handshakes_total", "result=\"full\"",
         counters->tls_handshakes[shm_cache::kTlsFull].load());
  Sample(&out, "fc_tls_handshakes_total", "result=\"resumed\"",
         counters->tls_handshakes[shm_cache::kTlsResumed].load());
  Family(&out, "fc_tls_handshake_failures_total", "counter",
         "TLS handshakes that failed, by a fixed set of reasons (docs/tls.md).");
  for (int f = 1; f < tls::kFailureKinds; ++f) {
    Sample(&out, "fc_tls_handshake_failures_total",
           std::string("reason=\"") + tls::FailureName(static_cast<tls::Failure>(f)) + "\"",
           counters->tls_handshakes[shm_cache::kTlsResumed + f].load());
  }
  HistogramFamily(&out, "fc_request_duration_seconds",
                  "From a request's first byte to its reply's last.", counters->request_latency);
  HistogramFamily(&out, "fc_load_duration_seconds", "Loading one file from disk into the cache.",
                  counters->load_latency);
  return out;
}

Result<std::unique_ptr<MetricsServer>> MetricsServer::Listen(const std::string& host_port, int inherited_fd) {
  if (inherited_fd >= 0) {
    ::fcntl(inherited_fd, F_SETFL, ::fcntl(inherited_fd, F_GETFL) | O_NONBLOCK);
    return std::unique_ptr<MetricsServer>(new MetricsServer(UniqueFd(inherited_fd)));
  }
  auto where = net::ParseHostPort(host_port, "--metrics-listen");
  if (!where.ok()) return where.status();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* list = nullptr;
  if (int rc = ::getaddrinfo(where->host.c_str(), std::to_string(where->port).c_str(), &hints, &list);
      rc != 0) {
    return Status::Error("--metrics-listen " + host_port + ": " + ::gai_strerror(rc));
  }
  Status last = Status::Error("--metrics-listen " + host_port + ": no address");
  for (addrinfo* ai = list; ai != nullptr; ai = ai->ai_next) {
    UniqueFd fd(::socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    int one = 1;
    if (fd.valid()) ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (!fd.valid() || ::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd.get(), 64) != 0) {
      last = Status::FromErrno(errno, "listen", "--metrics-listen " + host_port);
      continue;
    }
    ::freeaddrinfo(list);
    return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(fd)));
  }
  ::freeaddrinfo(list);
  return last;
}

std::string MetricsServer::address() const {
  uint16_t port = 0;
  return LocalAddress(listen_.get(), &port);
}

void MetricsServer::AppendFds(std::vector<int>* fds) const {
  fds->push_back(listen_.get());
  for (const Conn& c : conns_) fds->push_back(c.fd.get());
}

void MetricsServer::AppendPollFds(std::vector<pollfd>* fds) const {
  fds->push_back({listen_.get(), POLLIN, 0});
  for (const Conn& c : conns_) {
    fds->push_back({c.fd.get(), static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
  }
}

void MetricsServer::OnPoll(const std::vector<pollfd>& fds, size_t from, const MetricsSource& source) {
  // conns_ as it was when the poll set was built: fds[from + 1 + i] is conns_[i].
  for (size_t i = 0; i < conns_.size() && from + 1 + i < fds.size(); ++i) {
    if (fds[from + 1 + i].revents != 0) Serve(conns_[i], source);
  }
  conns_.erase(std::remove_if(conns_.begin(), conns_.end(), [](const Conn& c) { return !c.fd.valid(); }),
               conns_.end());
  if (from < fds.size() && fds[from].revents != 0) Accept();
}

void MetricsServer::Accept() {
  for (;;) {
    UniqueFd fd(::accept4(listen_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) return;
    if (conns_.size() >= kMaxConnections) {
      // Full, as when idle connections are held open on purpose (slowloris):
      // the newcomer is likely a scraper that sends its request at once, so
      // the oldest connection that has not been answered makes room.
      auto oldest = std::min_element(conns_.begin(), conns_.end(), [](const Conn& a, const Conn& b) {
        return a.deadline_ns < b.deadline_ns;
      });
      conns_.erase(oldest);
    }
    Conn c;
    c.fd = std::move(fd);
    c.deadline_ns = MonotonicNowNs() + kConnectionNs;
    conns_.push_back(std::move(c));
  }
}

void MetricsServer::Serve(Conn& c, const MetricsSource& source) {
  if (c.out.empty()) {
    char buf[2048];
    const ssize_t n = ::read(c.fd.get(), buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
      c.fd.Reset();
      return;
    }
    if (n > 0) c.in.append(buf, static_cast<size_t>(n));
    const size_t end = c.in.find("\r\n\r\n") != std::string::npos ? c.in.find("\r\n\r\n") : c.in.find("\n\n");
    if (end == std::string::npos) {
      if (c.in.size() > kMaxRequest) c.out = Reply(431, "Request Header Fields Too Large", "text/plain", "too large\n");
      if (c.out.empty()) return;
    } else {
      const std::string line = c.in.substr(0, c.in.find_first_of("\r\n"));
      const bool get = line.rfind("GET ", 0) == 0, head = line.rfind("HEAD ", 0) == 0;
      const size_t target_at = line.find(' ') + 1;
      const std::string target = line.substr(target_at, line.find(' ', target_at) - target_at);
      if (!get && !head) {
        c.out = Reply(405, "Method Not Allowed", "text/plain", "GET /metrics\n");
      } else if (target != "/metrics" && target.rfind("/metrics?", 0) != 0) {
        c.out = Reply(404, "Not Found", "text/plain", "metrics are at /metrics\n");
      } else {
        c.out = Reply(200, "OK", "text/plain; version=0.0.4; charset=utf-8", RenderMetrics(source, restarts_));
        if (head) c.out.resize(c.out.find("\r\n\r\n") + 4);
      }
    }
  }
  while (c.sent < c.out.size()) {
    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) return;  // POLLOUT next time
    if (n <= 0) break;
    c.sent += static_cast<size_t>(n);
  }
  c.fd.Reset();
}

void MetricsServer::Sweep() {
  const int64_t now = MonotonicNowNs();
  for (Conn& c : conns_) {
    if (now >= c.deadline_ns) c.fd.Reset();
  }
  conns_.erase(std::remove_if(conns_.begin(), conns_.end(), [](const Conn& c) { return !c.fd.valid(); }),
               conns_.end());
}

}  // namespace fc::master
