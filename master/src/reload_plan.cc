// The reload's plan; see reload_plan.h.
#include "reload_plan.h"

namespace fc::master {
namespace {

// An option whose change needs a restart: its name, whether `next` changes
// it, and the running value as the log line gives it.
struct RestartOnly {
  const char* option;
  bool changed;
  std::string running;
};

std::vector<RestartOnly> RestartOnlyOptions(const MasterConfig& parsed, const MasterConfig& running,
                                            const MasterConfig& next) {
  return {
      {"--host", next.host != parsed.host, parsed.host},
      {"--port", next.port != parsed.port, std::to_string(parsed.port)},
      {"--cache-size", next.cache.segment_size != parsed.cache.segment_size,
       std::to_string(parsed.cache.segment_size) + " bytes"},
      {"--packet-size", next.cache.packet_size != parsed.cache.packet_size,
       std::to_string(parsed.cache.packet_size) + " bytes"},
      {"--policy", next.cache.policy != parsed.cache.policy, shm_cache::PolicyName(parsed.cache.policy)},
      {"--shm-name", next.cache.shm_name != parsed.cache.shm_name, running.cache.shm_name},
      {"--lock-dir", next.worker.lock_dir != parsed.worker.lock_dir, running.worker.lock_dir},
      {"--user", next.user != parsed.user, parsed.user.empty() ? "the default" : parsed.user},
      {"--metrics-listen", next.metrics_listen != parsed.metrics_listen,
       parsed.metrics_listen.empty() ? "off" : parsed.metrics_listen},
  };
}

}  // namespace

ReloadPlan PlanReload(const MasterConfig& running_parsed, const MasterConfig& running, const MasterConfig& next,
                      const std::string& resolved_root, uint32_t slots) {
  ReloadPlan plan;
  for (const RestartOnly& o : RestartOnlyOptions(running_parsed, running, next)) {
    if (o.changed) plan.kept.push_back(std::string(o.option) + " needs a restart; keeping " + o.running);
  }
  // Everything else comes from `next`, but what the restart-only options made
  // (the segment, the sockets, the lock directory) stays the running one's.
  plan.config = running;
  plan.config.workers = next.workers;
  // Each replacement needs a free slot while the worker it replaces drains.
  const uint32_t most = slots / 2;
  if (plan.config.workers > most) {
    plan.kept.push_back("--workers " + std::to_string(next.workers) + " needs a restart (the cache has slots for " +
                        std::to_string(most) + " during a reload); running " + std::to_string(most));
    plan.config.workers = most;
  }
  worker::WorkerConfig& w = plan.config.worker;
  w = next.worker;
  w.root = resolved_root;
  w.shm_name = running.worker.shm_name;
  w.lock_dir = running.worker.lock_dir;
  w.lock_salt = running.worker.lock_salt;
  plan.config.upgrade_binary = next.upgrade_binary;
  plan.config.upgrade_timeout_ms = next.upgrade_timeout_ms;
  plan.config.config_file = next.config_file;
  return plan;
}

}  // namespace fc::master
