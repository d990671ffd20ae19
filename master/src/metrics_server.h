// Internal header: the Prometheus endpoint (--metrics-listen). A small HTTP
// server inside the master's poll loop: GET /metrics answers the text format
// (version 0.0.4) built from the segment's counters and totals and the
// master's own, without asking the workers. Nonblocking, at most 16
// connections, each closed after one reply or 5 s, so a slow scraper never
// holds up supervision.
#pragma once

#include <poll.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fc/base/status.h"
#include "fc/base/unique_fd.h"
#include "fc/shm_cache/cache.h"

namespace fc::master {

struct MetricsSource {
  shm_cache::ShmCache* cache;
  uint32_t workers;
};

// The exposition text (exposed for tests).
std::string RenderMetrics(const MetricsSource& source, uint64_t worker_restarts);

class MetricsServer {
 public:
  // Listens on HOST:PORT, or adopts `inherited_fd` (a binary upgrade) if >= 0.
  static Result<std::unique_ptr<MetricsServer>> Listen(const std::string& host_port, int inherited_fd);

  int listen_fd() const { return listen_.get(); }
  std::string address() const;
  void AppendFds(std::vector<int>* fds) const;  // every descriptor (a forked worker closes them)
  void AppendPollFds(std::vector<pollfd>* fds) const;
  // Handles the events of the descriptors AppendPollFds added at `from`.
  void OnPoll(const std::vector<pollfd>& fds, size_t from, const MetricsSource& source);
  void Sweep();  // closes connections past their deadline
  void CountRestart() { ++restarts_; }

 private:
  struct Conn {
    UniqueFd fd;
    std::string in;
    std::string out;
    size_t sent = 0;
    int64_t deadline_ns = 0;
  };
  explicit MetricsServer(UniqueFd fd) : listen_(std::move(fd)) {}
  void Accept();
  void Serve(Conn& c, const MetricsSource& source);  // returns with c.fd reset when done

  UniqueFd listen_;
  std::vector<Conn> conns_;
  uint64_t restarts_ = 0;
};

}  // namespace fc::master
