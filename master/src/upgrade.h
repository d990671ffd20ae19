// Internal header: the binary upgrade (SIGUSR2), nginx-style. The old master
// forks and execs the new binary with its listening sockets (LISTEN_FDS, the
// same convention as systemd socket activation), the segment's name, the load
// lock directory and salt, and a pipe. The new master attaches to the segment
// (so the cache stays warm), starts its workers, and writes READY on the pipe
// once they serve; the old master then drains its own workers and exits. EOF
// or no READY by the deadline: the old master kills the new one and serves on.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "fc/base/status.h"
#include "fc/base/unique_fd.h"

namespace fc::master {

struct UpgradeHandover {
  std::string binary;
  std::vector<std::string> argv;  // as the old master was started
  std::vector<int> listeners;
  int metrics_fd = -1;
  std::string shm_name;
  std::string lock_dir;
  uint64_t lock_salt = 0;
  // HTTPS: the TLS listener, the key reader's socket (-1: none), and the
  // session-ticket keys (TicketKeys::Serialize), passed through a pipe.
  std::vector<int> tls_fds;
  int keys_fd = -1;
  std::string tls_state;
};

struct UpgradeChild {
  pid_t pid = 0;
  UniqueFd ready;  // read end of the READY pipe
  int64_t deadline_ns = 0;
};

Result<UpgradeChild> StartNewMaster(const UpgradeHandover& handover);

// The binary this process runs, as a path (if it was replaced on disk, the
// path now names the new one: that is the point of an upgrade).
std::string SelfExecutable();

// In a new master: what the old one passed (empty `from` if not an upgrade).
// Reads and removes the FC_UPGRADE_* variables.
struct UpgradeInheritance {
  pid_t from = 0;
  int ready_fd = -1;
  int metrics_fd = -1;
  std::string lock_dir;
  uint64_t lock_salt = 0;
  std::vector<int> tls_fds;  // FC_UPGRADE_TLS_FD and the FC_UPGRADE_TLS_COUNT - 1 after it
  int keys_fd = -1;
  std::string tls_state;  // read from its pipe ("" if none)
};
UpgradeInheritance TakeUpgradeInheritance();

}  // namespace fc::master
