// fc-master: binds the listening socket, creates the shared cache segment,
// forks and supervises the worker processes, and shuts everything down.
//
// Mechanism (fork, process.cc; thread pidfds, death_watch.cc; the standby,
// standby.cc) is kept apart from policy: respawn and crash-loop backoff in
// workforce.cc, what a reload may change in reload_plan.cc, signals and the
// graceful stop in supervisor.cc, start-up in master.cc. The master touches the
// shared segment only to create it, to reclaim a reaped worker's slot (under a
// timed lock, so a stopped worker cannot wedge it) and to remove it.
// Single-threaded by design: it forks workers without exec.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "fc/shm_cache/cache.h"
#include "fc/tls/server_tls.h"
#include "fc/worker/worker.h"

namespace fc::master {

// Worker processes at most; the segment has SlotsFor(workers) worker slots,
// twice as many as workers (at least 16), so that replacements can attach
// while the workers they replace drain (reload, upgrade).
constexpr uint32_t kMaxWorkers = 128;
uint32_t SlotsFor(uint32_t workers);

struct MasterConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  uint32_t workers = 4;
  shm_cache::CacheOptions cache;  // shm_name empty: "fc-<port>"
  worker::WorkerConfig worker;    // root, threads, timeouts, HTTP, ... (what every worker is given)
  std::string lock_dir;           // --lock-dir ("" = the default, private_dir.h)
  std::string user;               // started as root: run as this user ("" = nobody; "root" keeps root)
  std::string config_file;        // --config; SIGHUP reads it again
  std::string cache_size_auto;    // --cache-size auto: how it was sized (for the log); "" otherwise
  std::string metrics_listen;     // HOST:PORT of the Prometheus endpoint; "" = off
  std::string upgrade_binary;     // SIGUSR2 runs this ("" = /proc/self/exe as started)
  int upgrade_timeout_ms = 30'000;  // the new master must serve within this, or is killed
  std::vector<std::string> argv;  // as started: a reload parses it again, an upgrade runs it
  // HTTPS: --tls-listen, the certificate and key files, protocols and ciphers
  // (what the workers need of it is in `worker`).
  std::string tls_listen;
  std::vector<std::string> tls_certs, tls_keys;
  tls::ServerSettings tls;
};

// Parses the command line and the --config file it names. *run: go on.
// Otherwise returns the exit code (0 after --help, 2 on a usage error, printed
// on stderr, or put in *error when given: a reload logs it instead).
int ParseCommandLine(int argc, char** argv, MasterConfig* config, bool* run,
                     std::string* error = nullptr);

// Runs the server until SIGTERM/SIGINT. Returns the process exit code.
int RunMaster(MasterConfig config);

}  // namespace fc::master
