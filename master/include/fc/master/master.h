// fc-master: binds the listening socket, creates the shared cache segment,
// forks and supervises the worker processes, and shuts everything down.
//
// Mechanism (fork/reap/signal, process.cc) is kept apart from policy (respawn
// with crash-loop backoff, graceful shutdown, master.cc). The master touches the
// shared segment only to create it, to reclaim a reaped worker's slot (under a
// timed lock, so a stopped worker cannot wedge it) and to remove it.
// Single-threaded by design: it forks workers without exec.
#pragma once

#include <cstdint>
#include <string>

#include "fc/shm_cache/cache.h"
#include "fc/worker/worker.h"

namespace fc::master {

struct MasterConfig {
  std::string host = "127.0.0.1";
  uint16_t port = 9000;
  uint32_t workers = 4;
  shm_cache::CacheOptions cache;  // shm_name empty: "fc-<port>"
  worker::WorkerConfig worker;    // root, lock_dir (empty: the default, private_dir.h), threads, ...
  std::string user;               // started as root: run as this user ("" = nobody; "root" keeps root)
};

// Parses the command line. Returns 0 to run, or an exit code (0 after --help,
// 2 on a usage error, with the message already printed).
int ParseCommandLine(int argc, char** argv, MasterConfig* config, bool* run);

// Runs the server until SIGTERM/SIGINT. Returns the process exit code.
int RunMaster(MasterConfig config);

}  // namespace fc::master
