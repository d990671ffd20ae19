// The reload's plan; see reload_plan.h.
#include "reload_plan.h"

namespace fc::master {
const std::vector<RestartOnlyOption>& RestartOnlyOptions() {
  using C = const MasterConfig&;
  using M = const worker::WorkerHandOff&;
  static const std::vector<RestartOnlyOption> options = {
      {"--host", [](C was, C next) { return next.host != was.host; }, [](C was, M) { return was.host; }},
      {"--port", [](C was, C next) { return next.port != was.port; },
       [](C was, M) { return std::to_string(was.port); }},
      {"--cache-size", [](C was, C next) { return next.cache.segment_size != was.cache.segment_size; },
       [](C was, M) { return std::to_string(was.cache.segment_size) + " bytes"; }},
      {"--packet-size", [](C was, C next) { return next.cache.packet_size != was.cache.packet_size; },
       [](C was, M) { return std::to_string(was.cache.packet_size) + " bytes"; }},
      {"--policy", [](C was, C next) { return next.cache.policy != was.cache.policy; },
       [](C was, M) { return std::string(shm_cache::PolicyName(was.cache.policy)); }},
      {"--shm-name", [](C was, C next) { return next.cache.shm_name != was.cache.shm_name; },
       [](C, M made) { return made.shm_name; }},
      {"--lock-dir", [](C was, C next) { return next.lock_dir != was.lock_dir; },
       [](C, M made) { return made.lock_dir; }},
      {"--user", [](C was, C next) { return next.user != was.user; },
       [](C was, M) { return was.user.empty() ? std::string("the default") : was.user; }},
      {"--tls-listen", [](C was, C next) { return next.tls_listen != was.tls_listen; },
       [](C was, M) { return was.tls_listen.empty() ? std::string("off") : was.tls_listen; }},
      {"--metrics-listen", [](C was, C next) { return next.metrics_listen != was.metrics_listen; },
       [](C was, M) { return was.metrics_listen.empty() ? std::string("off") : was.metrics_listen; }},
  };
  return options;
}

ReloadPlan PlanReload(const MasterConfig& running_parsed, const MasterConfig& running,
                      const worker::WorkerHandOff& made, const MasterConfig& next, const std::string& resolved_root,
                      uint32_t slots) {
  ReloadPlan plan;
  for (const RestartOnlyOption& o : RestartOnlyOptions()) {
    if (o.changed(running_parsed, next)) {
      plan.kept.push_back(std::string(o.name) + " needs a restart; keeping " + o.running(running_parsed, made));
    }
  }
  // Everything else comes from `next`; what the restart-only options made
  // (the segment, the sockets, the lock directory) is not in a configuration
  // (the supervisor's WorkerHandOff) and stays as it is.
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
  // The TLS listener stays (restart-only); the certificates, protocols and
  // ciphers are read again (Supervisor::ReloadTls).
  w.https_port = running.worker.https_port;
  if (running.tls_listen.empty()) w.redirect_https = false;
  plan.config.tls_certs = next.tls_certs;
  plan.config.tls_keys = next.tls_keys;
  plan.config.tls = next.tls;
  plan.config.upgrade_binary = next.upgrade_binary;
  plan.config.upgrade_timeout_ms = next.upgrade_timeout_ms;
  plan.config.config_file = next.config_file;
  return plan;
}

}  // namespace fc::master
