// Internal header: the supervisor, fc-master's main loop once everything is
// set up. It owns the sockets, the segment and the workforce (workforce.h:
// one worker per position, replaced at once when it dies), reaps children,
// and acts on signals:
//   TERM/INT  graceful stop: drain the workers, remove segment and lock files;
//   HUP       reload: read the config again, replace workers one at a time;
//   USR1      reopen the error log, and the access logs in every worker;
//   USR2      binary upgrade: start a new master on the same sockets and the
//             same segment; once it serves, drain the old workers and exit.
// Workers and positions are apart from cache slots: a replacement takes a
// free slot while the worker it replaces drains in its own.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "fc/master/master.h"
#include "fc/base/unique_fd.h"
#include "fc/shm_cache/cache.h"
#include "tls_setup.h"

namespace fc::master {

class MetricsServer;

struct Supervised {
  MasterConfig config;
  std::vector<UniqueFd> listeners;
  UniqueFd signals;  // signalfd: CHLD TERM INT HUP USR1 USR2
  std::unique_ptr<shm_cache::ShmCache> cache;
  // What start-up made for the workers (segment name, lock directory and
  // salt, media types); a reload keeps it but for the media types.
  worker::WorkerHandOff made;
  std::unique_ptr<MetricsServer> metrics;  // null: --metrics-listen off
  int upgrade_ready_fd = -1;  // a new master: tell the old one here once serving
  std::vector<UniqueFd> tls_listeners;  // --tls-listen: one per worker position, as `listeners`
  std::unique_ptr<KeyReader> key_reader;  // null: the master reads the files itself
  bool owns_segment = true;   // false: a new master attached to the old one's segment
};

// Runs until stopped; returns the exit code. `parsed`: the configuration as
// parsed, before defaults were resolved (what a reload compares with).
int Supervise(Supervised setup, const MasterConfig& parsed);

}  // namespace fc::master
