// Internal header: fc-master's start-up, as named steps that RunMaster
// (master.cc) takes in order and a reload reuses (ResolveRoot). Each step
// reads the configuration and completes it (the port bound, the segment's
// name) or records what it made for the workers (worker::WorkerHandOff: the
// lock directory, its salt, the segment); a failure is a Status whose message
// names what could not be done.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "fc/base/status.h"
#include "fc/base/unique_fd.h"
#include "fc/master/master.h"
#include "fc/shm_cache/cache.h"
#include "upgrade.h"

namespace fc::master {

// An empty directory this start made, removed unless the start succeeds
// (Release() once it has).
class NewDirectory {
 public:
  NewDirectory() = default;
  NewDirectory(const NewDirectory&) = delete;
  NewDirectory& operator=(const NewDirectory&) = delete;
  ~NewDirectory();
  void Set(const std::string& path) { path_ = path; }
  void Release() { path_.clear(); }

 private:
  std::string path_;
};

// FC_CRASH_AT and FC_CRASH_ACTION are valid (they are armed in the worker).
Status CheckCrashPoints();
// Every connection is a descriptor: the soft limit is lifted to the hard one.
void RaiseDescriptorLimit();
// The served directory as an absolute path with no symlinks, or why it
// cannot be served ("cannot serve "ROOT": ...").
Result<std::string> ResolveRoot(const std::string& root);
// The listening sockets: inherited (systemd socket activation, or the master
// this one upgrades), else bound, one per worker. Sets config->port to the
// one listened on.
Result<std::vector<UniqueFd>> TakeListeners(MasterConfig* config);
// As root, before the drop: the lock directory made (or taken back) for the
// user fc runs as, under root's base; the log files made for that user under
// a root-owned directory (/var/log/fc). The directory chosen goes to
// for_workers->lock_dir; `made`: a lock directory this start created.
Status PrepareForUser(const MasterConfig& config, worker::WorkerHandOff* for_workers, NewDirectory* made);
// The segment: created fresh (this user's leftovers of a dead master
// replaced, with a new lock salt and the lock directory made private), or in
// a binary upgrade the running one (its lock directory and salt with it).
// Its name, the lock directory and the salt go to *for_workers; the lock
// directory is also recorded in config->cache (the segment's header keeps it
// for an upgrade). *owns: whether this master made it.
Result<std::unique_ptr<shm_cache::ShmCache>> OpenSegment(MasterConfig* config, const UpgradeInheritance& upgrade,
                                                         worker::WorkerHandOff* for_workers, bool* owns,
                                                         NewDirectory* made);
// The start-up's lines about the segment, --cache-size auto and a lock
// directory off a tmpfs.
void LogSegment(const MasterConfig& config, const worker::WorkerHandOff& for_workers,
                const shm_cache::ShmCache& cache);

}  // namespace fc::master
