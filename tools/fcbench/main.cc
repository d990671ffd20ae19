// fc-bench: a load generator for the fc protocol (and, with --http, plain
// HTTP/1.1 GET, so the same generator can be pointed at nginx).
//
// T threads, each with its own epoll loop and C/T nonblocking connections, send
// GET requests for one name back to back (keep-alive) or on a new connection
// each (--new-connection), for a duration or a request count, and print
// req/s, MB/s and latency p50 / p99 / p99.9. Loopback only by intent: it is a
// measuring tool, bounded by --duration and --requests.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <boost/program_options.hpp>

#include "fc/base/clock.h"
#include "fc/base/cli.h"
#include "fc/protocol/wire.h"

namespace po = boost::program_options;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string name;
  int connections = 64;
  int threads = 2;
  double duration_s = 5;
  long requests = 0;  // 0: run for the duration
  bool new_connection = false;
  bool http = false;
};

struct Conn {
  int fd = -1;
  std::string in;
  size_t sent = 0;
  int64_t started = 0;
  uint64_t expect = 0;  // total bytes of the current reply once known, 0 = unknown
};

struct ThreadResult {
  long done = 0, errors = 0;
  uint64_t bytes = 0;
  std::vector<float> latency_us;
};

class Worker {
 public:
  Worker(const Options& o, const std::string& request, int conns, std::atomic<long>& budget,
         int64_t deadline)
      : o_(o), request_(request), budget_(budget), deadline_(deadline), conns_(conns) {
    ep_ = ::epoll_create1(EPOLL_CLOEXEC);
    addr_.sin_family = AF_INET;
    addr_.sin_port = htons(static_cast<uint16_t>(o.port));
    ::inet_pton(AF_INET, o.host.c_str(), &addr_.sin_addr);
    result.latency_us.reserve(1 << 20);
  }
  ~Worker() { ::close(ep_); }

  void Run() {
    for (size_t i = 0; i < conns_.size(); ++i) Open(i);
    epoll_event events[256];
    while (fc::MonotonicNowNs() < deadline_ && active_ > 0) {
      const int n = ::epoll_wait(ep_, events, 256, 100);
      for (int k = 0; k < n; ++k) OnEvent(events[k].data.u32, events[k].events);
    }
    for (auto& c : conns_) {
      if (c.fd >= 0) ::close(c.fd);
    }
  }

  ThreadResult result;

 private:
  bool Take() { return o_.requests == 0 || budget_.fetch_sub(1) > 0; }

  void Open(size_t i) {
    Conn& c = conns_[i];
    if (!Take()) {
      c.fd = -1;
      return;
    }
    c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr_), sizeof(addr_)) != 0 &&
        errno != EINPROGRESS) {
      ++result.errors;
      ::close(c.fd);
      c.fd = -1;
      return;
    }
    ++active_;
    c.in.clear();
    c.sent = 0;
    c.expect = 0;
    c.started = fc::MonotonicNowNs();
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u32 = static_cast<uint32_t>(i);
    ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  void Fail(size_t i) {
    ++result.errors;
    Close(i);
    if (fc::MonotonicNowNs() < deadline_) Open(i);
  }

  void Close(size_t i) {
    ::close(conns_[i].fd);
    conns_[i].fd = -1;
    --active_;
  }

  void OnEvent(size_t i, uint32_t events) {
    Conn& c = conns_[i];
    if (c.fd < 0) return;
    if (events & EPOLLERR) return Fail(i);
    if (c.sent < request_.size()) {
      const ssize_t n = ::send(c.fd, request_.data() + c.sent, request_.size() - c.sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN) return Fail(i);
      if (n > 0) c.sent += static_cast<size_t>(n);
      if (c.sent == request_.size()) {
        epoll_event ev{};
        ev.events = EPOLLIN;
        ev.data.u32 = static_cast<uint32_t>(i);
        ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      }
      return;
    }
    char buf[65536];
    for (;;) {
      const ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
      if (n == 0) return Fail(i);
      if (n < 0) {
        if (errno == EAGAIN) return;
        return Fail(i);
      }
      // Keep only the head; count body bytes without storing them.
      if (c.expect == 0) {
        c.in.append(buf, static_cast<size_t>(n));
        if (!ParseHead(c)) continue;
      } else {
        c.in.resize(c.in.size() + static_cast<size_t>(n));
      }
      if (c.in.size() >= c.expect) return Complete(i);
    }
  }

  // Sets c.expect once the reply head is complete; false until then.
  bool ParseHead(Conn& c) {
    if (!o_.http) {
      if (c.in.size() < fc::protocol::kReplyHeaderSize) return false;
      fc::protocol::ReplyHeader h;
      if (!fc::protocol::DecodeReplyHeader(reinterpret_cast<const uint8_t*>(c.in.data()), &h) ||
          h.code != fc::protocol::Code::kOk) {
        c.expect = c.in.size();  // counted as an error in Complete
        c.in += '\1';
        return true;
      }
      c.expect = fc::protocol::kReplyHeaderSize + h.body_length;
      return true;
    }
    const size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return false;
    const size_t p = c.in.find("Content-Length: ");
    const uint64_t length = p < end ? std::strtoull(c.in.c_str() + p + 16, nullptr, 10) : 0;
    if (c.in.compare(9, 3, "200") != 0) c.in += '\1';
    c.expect = end + 4 + length;
    return true;
  }

  void Complete(size_t i) {
    Conn& c = conns_[i];
    const bool ok = c.in.size() == c.expect;
    const int64_t now = fc::MonotonicNowNs();
    if (ok) {
      ++result.done;
      result.bytes += c.expect;
      result.latency_us.push_back(static_cast<float>(now - c.started) / 1000.0f);
    } else {
      ++result.errors;
    }
    if (o_.new_connection || !ok) {
      Close(i);
      if (now < deadline_) Open(i);
      return;
    }
    if (now >= deadline_ || !Take()) return Close(i);
    c.in.clear();
    c.expect = 0;
    c.started = now;
    const ssize_t n = ::send(c.fd, request_.data(), request_.size(), MSG_NOSIGNAL);
    c.sent = n > 0 ? static_cast<size_t>(n) : 0;
    if (c.sent < request_.size()) {
      epoll_event ev{};
      ev.events = EPOLLOUT | EPOLLIN;
      ev.data.u32 = static_cast<uint32_t>(i);
      ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
  }

  const Options& o_;
  const std::string& request_;
  std::atomic<long>& budget_;
  const int64_t deadline_;
  std::vector<Conn> conns_;
  int ep_;
  int active_ = 0;
  sockaddr_in addr_{};
};

double Percentile(const std::vector<float>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(std::ceil(q * sorted.size())) - 1);
  return sorted[i] / 1000.0;  // ms
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  po::options_description opts(
      "Usage: fc-bench --port P --name NAME [options]\n\n"
      "Load generator for the fc protocol (or HTTP with --http) on loopback.\n"
      "Prints req/s, MB/s and latency p50/p99/p99.9.\n\nOptions");
  opts.add_options()("help,h", "print this help and exit")
      ("host", po::value(&o.host)->value_name("ADDR"), "IPv4 address (default 127.0.0.1)")
      ("port", po::value(&o.port)->value_name("P"), "server port")
      ("name", po::value(&o.name)->value_name("NAME"), "file to request")
      ("connections,c", po::value(&o.connections)->value_name("C"), "connections (default 64)")
      ("threads,t", po::value(&o.threads)->value_name("T"), "threads (default 2)")
      ("duration,d", po::value(&o.duration_s)->value_name("SEC"), "run time (default 5)")
      ("requests,n", po::value(&o.requests)->value_name("N"), "stop after N requests")
      ("new-connection", po::bool_switch(&o.new_connection), "one connection per request")
      ("http", po::bool_switch(&o.http), "send HTTP/1.1 GET /NAME instead");
  po::variables_map vm;
  if (int rc = fc::cli::Parse("fc-bench", argc, argv, opts, opts, nullptr, &vm); rc >= 0) return rc;
  if (o.port <= 0 || o.port > 65535 || o.name.empty() || o.connections < 1 || o.threads < 1 ||
      o.threads > o.connections || o.duration_s <= 0 || o.duration_s > 3600) {
    std::fprintf(stderr, "fc-bench: need --port, --name, 1 <= threads <= connections, "
                         "duration 0-3600 s\n");
    return 2;
  }
  std::string request;
  if (o.http) {
    request = "GET /" + o.name + " HTTP/1.1\r\nHost: bench\r\n" +
              (o.new_connection ? "Connection: close\r\n" : "") + "\r\n";
  } else {
    fc::protocol::RequestHeader h;
    h.op = fc::protocol::Op::kGet;
    h.name_length = static_cast<uint32_t>(o.name.size());
    request.resize(fc::protocol::kRequestHeaderSize);
    fc::protocol::EncodeRequestHeader(h, reinterpret_cast<uint8_t*>(request.data()));
    request += o.name;
  }
  std::atomic<long> budget{o.requests};
  const int64_t start = fc::MonotonicNowNs();
  const int64_t deadline = start + static_cast<int64_t>(o.duration_s * 1e9);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int t = 0; t < o.threads; ++t) {
    const int conns = o.connections / o.threads + (t < o.connections % o.threads ? 1 : 0);
    workers.push_back(std::make_unique<Worker>(o, request, conns, budget, deadline));
  }
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->Run(); });
  for (auto& t : threads) t.join();
  const double elapsed = static_cast<double>(fc::MonotonicNowNs() - start) / 1e9;
  long done = 0, errors = 0;
  uint64_t bytes = 0;
  std::vector<float> all;
  for (auto& w : workers) {
    done += w->result.done;
    errors += w->result.errors;
    bytes += w->result.bytes;
    all.insert(all.end(), w->result.latency_us.begin(), w->result.latency_us.end());
  }
  std::sort(all.begin(), all.end());
  std::printf("requests %ld in %.2f s: %.0f req/s, %.1f MB/s, latency p50 %.3f ms, "
              "p99 %.3f ms, p99.9 %.3f ms, errors %ld\n",
              done, elapsed, done / elapsed, bytes / elapsed / 1e6, Percentile(all, 0.5),
              Percentile(all, 0.99), Percentile(all, 0.999), errors);
  return errors > 0 && done == 0 ? 1 : 0;
}
