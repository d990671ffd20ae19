// fc-master's start-up steps; see startup.h.
#include "fc/base/status.h"
#include "startup.h"

#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <random>

#include "fc/base/crash_point.h"
#include "fc/base/log.h"
#include "fc/base/private_dir.h"
#include "fc/base/process_start.h"
#include "listeners.h"
#include "privileges.h"

namespace fc::master {
namespace {

// The segment for a new master in a binary upgrade: the running one if its
// layout matches (the cache stays warm), else a fresh one. *owns: whether
// this master made it (then it removes it on stop even before serving).
Result<std::unique_ptr<shm_cache::ShmCache>> UpgradeSegment(const MasterConfig& config,
                                                            const UpgradeInheritance& from, bool* owns) {
  *owns = false;
  auto creator = shm_cache::ShmCache::CreatorOf(config.cache.shm_name);
  if (creator.ok() && creator.value().pid == from.from) {
    auto cache = shm_cache::ShmCache::Open(config.cache.shm_name);
    if (cache.ok()) {
      const auto totals = cache.value()->PeekTotals();
      log::Line("upgrade: attached to the running cache \"", config.cache.shm_name, "\" (layout version ",
                totals.layout_version, ", ", totals.entries, " entries, ", totals.used, " bytes kept)");
      return cache;
    }
  }
  log::Line("upgrade: cannot keep the cache (",
            creator.ok() ? "it belongs to pid " + std::to_string(creator.value().pid) + ", not the old master"
                         : creator.status().message(),
            "); building a fresh segment of layout version ", shm_cache::BinaryLayoutVersion());
  shm_cache::ShmCache::Remove(config.cache.shm_name);  // the old workers keep their mapping
  *owns = true;
  return shm_cache::ShmCache::Create(config.cache);
}

// The load lock directory into *dir, unless chosen already (PrepareForUser):
// --lock-dir, or the default for the segment's name.
Status ChooseLockDirectory(const MasterConfig& config, std::string* dir) {
  if (!dir->empty()) return Status::Ok();
  if (!config.lock_dir.empty()) {
    *dir = config.lock_dir;
    return Status::Ok();
  }
  auto chosen = DefaultLockDirectory(config.cache.shm_name);
  if (!chosen.ok()) return Status::Error("cannot choose a lock directory: " + chosen.status().message());
  *dir = chosen.value();
  return Status::Ok();
}

// ... made private to this user.
Status PrepareLockDirectory(const MasterConfig& config, std::string* dir) {
  if (Status chosen = ChooseLockDirectory(config, dir); !chosen.ok()) return chosen;
  if (Status made = EnsurePrivateDirectory(*dir); !made.ok()) {
    return Status::Error("lock directory: " + made.message());
  }
  return Status::Ok();
}

}  // namespace

NewDirectory::~NewDirectory() {
  if (!path_.empty()) ::rmdir(path_.c_str());
}

Status CheckCrashPoints() {
  std::string error;
  if (!crash::ArmFromEnvironment(&error)) return Status::Error(error);  // validated here, armed in the worker
  crash::Disarm();
  if (const char* at = std::getenv("FC_CRASH_AT"); at != nullptr && *at != '\0') {
    log::Line("crash point ", at, " armed in slot 0's first worker");
  }
  return Status::Ok();
}

void RaiseDescriptorLimit() {
  rlimit files;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
}

Result<std::string> ResolveRoot(const std::string& root) {
  char resolved[PATH_MAX];
  if (::realpath(root.c_str(), resolved) == nullptr) {
    return Status::Error("cannot serve \"" + root + "\": " + ErrnoText(errno));
  }
  struct stat st;
  if (::stat(resolved, &st) != 0) return Status::Error("cannot serve \"" + root + "\": " + ErrnoText(errno));
  if (!S_ISDIR(st.st_mode)) return Status::Error("cannot serve \"" + std::string(resolved) + "\": not a directory");
  return std::string(resolved);
}

Result<std::vector<UniqueFd>> TakeListeners(MasterConfig* config) {
  auto inherited = InheritListeners();
  if (!inherited.ok()) return inherited.status();
  if (inherited.value().empty()) {
    return BindListeners(config->host, config->port, static_cast<int>(config->workers), &config->port);
  }
  std::vector<UniqueFd> listeners = std::move(inherited.value());
  uint16_t port = 0;
  const std::string where = LocalAddress(listeners[0].get(), &port);
  if (config->port != 0 && config->port != port) {
    log::Line("listening on the ", listeners.size(), " inherited sockets (", where, "), not on port ",
              config->port);
  }
  config->port = port;
  return listeners;
}

Status PrepareForUser(const MasterConfig& config, worker::WorkerHandOff* for_workers, NewDirectory* made) {
  if (::geteuid() != 0) return Status::Ok();
  // The lock directory's parent (/run/fc, or systemd's RuntimeDirectory)
  // belongs to root: make the directory now (or take back one an earlier run
  // as another user left there) and give it to the user fc runs as. Only fc's
  // own default location is taken back; a --lock-dir must pass the usual
  // checks.
  const bool defaulted = config.lock_dir.empty();
  std::string& dir = for_workers->lock_dir;
  if (Status chosen = ChooseLockDirectory(config, &dir); !chosen.ok()) return chosen;
  if (defaulted && config.user != "root") {
    // In root's base the user could not remove its lock directory when it
    // stops: give the user a directory of its own there, and put it inside.
    const size_t slash = dir.find_last_of('/');
    const std::string user_dir = dir.substr(0, slash) + "/" + config.user;
    if (Status claimed = ClaimDirectory(user_dir, config.user, true); !claimed.ok()) {
      return Status::Error("lock directory: " + claimed.message());
    }
    dir = user_dir + dir.substr(slash);
  }
  bool created = false;
  if (Status claimed = ClaimDirectory(dir, config.user, defaulted, &created); !claimed.ok()) {
    return Status::Error("lock directory: " + claimed.message());
  }
  if (created) made->Set(dir);
  if (config.user == "root") return Status::Ok();
  // Log files under a root-owned directory (/var/log/fc): created now for the
  // user, who then appends to them and reopens them (logrotate creates their
  // successors for the same user).
  for (const std::string& path : {config.worker.access_log, config.worker.error_log}) {
    if (path.empty() || path == "-" || path == "off") continue;
    if (Status given = PrepareLogFile(path, config.user); !given.ok()) return given;
  }
  return Status::Ok();
}

Result<std::unique_ptr<shm_cache::ShmCache>> OpenSegment(MasterConfig* config, const UpgradeInheritance& upgrade,
                                                         worker::WorkerHandOff* for_workers, bool* owns,
                                                         NewDirectory* made) {
  for_workers->shm_name = config->cache.shm_name;
  std::string& lock_dir = for_workers->lock_dir;
  // Whatever is at the segment's name must be this user's: another user's file
  // (planted, or another fc's) is neither used nor removed.
  if (Status owner = shm_cache::ShmCache::CheckOwnership(config->cache.shm_name); !owner.ok()) return owner;
  if (upgrade.from != 0) {
    lock_dir = upgrade.lock_dir;
    for_workers->lock_salt = upgrade.lock_salt;
    config->cache.lock_dir = upgrade.lock_dir;
    return UpgradeSegment(*config, upgrade, owns);
  }
  *owns = true;
  // This user's leftovers of a master that was killed (or a half-built
  // segment) are replaced; a segment whose master still runs is not.
  auto creator = shm_cache::ShmCache::CreatorOf(config->cache.shm_name);
  if (creator.ok() && creator.value().pid != ::getpid() &&
      SameProcessAlive(creator.value().pid, creator.value().start)) {
    return Status::Error("shared memory segment \"" + config->cache.shm_name + "\" is in use by fc-master pid " +
                         std::to_string(creator.value().pid) + "; choose another --shm-name");
  }
  // A directory named already (by PrepareForUser, or --lock-dir) that exists
  // is not this start's to remove; fc's own default is.
  const std::string named = !lock_dir.empty() ? lock_dir : config->lock_dir;
  const bool had_dir = !named.empty() && ::access(named.c_str(), F_OK) == 0;
  if (Status prepared = PrepareLockDirectory(*config, &lock_dir); !prepared.ok()) return prepared;
  if (!had_dir) made->Set(lock_dir);
  for_workers->lock_salt = (uint64_t{std::random_device()()} << 32) ^ std::random_device()();
  shm_cache::ShmCache::Remove(config->cache.shm_name);
  RemoveLockFiles(lock_dir, /*and_directory=*/false);  // a dead master's, if any
  config->cache.lock_dir = lock_dir;
  auto created = shm_cache::ShmCache::Create(config->cache);
  if (!created.ok()) RemoveLockFiles(lock_dir, /*and_directory=*/true);
  return created;
}

void LogSegment(const MasterConfig& config, const worker::WorkerHandOff& for_workers,
                const shm_cache::ShmCache& cache) {
  if (!config.cache_size_auto.empty()) {
    log::Line("--cache-size auto: ", config.cache.segment_size >> 20, " MiB (", config.cache_size_auto, ")");
  }
  log::Line("cache \"", config.cache.shm_name, "\": ", config.cache.segment_size, " bytes, ",
            cache.packet_count(), " packets of ", cache.packet_size(), " bytes, policy ",
            shm_cache::PolicyName(cache.policy()), ", layout version ", cache.layout_version(),
            "; lock directory ", for_workers.lock_dir);
  // A --lock-dir on a disk needs no warning: each process opens the pool's
  // files once and a load only flocks one (the kernel keeps flocks in
  // memory), so no miss touches the disk for its lock.
}

}  // namespace fc::master
