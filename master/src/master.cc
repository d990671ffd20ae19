// fc-master's start-up: check the served root, bind (or inherit) the
// listening sockets, drop root, create the segment (or, in a binary upgrade,
// attach to the running one), then hand over to the supervisor.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

#include "fc/master/master.h"
#include "fc/base/crash_point.h"
#include "fc/base/log.h"
#include "fc/base/private_dir.h"
#include "fc/base/process_start.h"
#include "listeners.h"
#include "metrics_server.h"
#include "privileges.h"
#include "process.h"
#include "supervisor.h"
#include "upgrade.h"

namespace fc::master {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "fc-master: %s\n", message.c_str());
  return 1;
}

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

// An empty directory this start made, removed unless the start succeeds.
struct RemoveIfUnused {
  std::string path;
  ~RemoveIfUnused() {
    if (!path.empty()) ::rmdir(path.c_str());
  }
};

// The load lock directory: --lock-dir, or the default for the segment's name.
Status ChooseLockDirectory(MasterConfig* config) {
  if (!config->worker.lock_dir.empty()) return Status::Ok();
  auto dir = DefaultLockDirectory(config->cache.shm_name);
  if (!dir.ok()) return Status::Error("cannot choose a lock directory: " + dir.status().message());
  config->worker.lock_dir = dir.value();
  return Status::Ok();
}

// ... made private to this user.
Status PrepareLockDirectory(MasterConfig* config) {
  if (Status chosen = ChooseLockDirectory(config); !chosen.ok()) return chosen;
  if (Status made = EnsurePrivateDirectory(config->worker.lock_dir); !made.ok()) {
    return Status::Error("lock directory: " + made.message());
  }
  return Status::Ok();
}

}  // namespace

int RunMaster(MasterConfig config) {
  log::SetProgram("fc-master");
  const MasterConfig parsed = config;  // what a reload compares against
  // Signals wait in the signalfd from the first step on: a SIGTERM during
  // start-up (a 2 GiB segment takes a while) is taken once the supervisor
  // runs, which stops and removes what start-up made, rather than killing
  // the master with the default disposition and leaving it all behind.
  sigset_t signals;
  sigemptyset(&signals);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2}) sigaddset(&signals, sig);
  auto signal_fd = OpenSignalFd(signals);
  if (!signal_fd.ok()) return Fail(signal_fd.status().message());
  ::signal(SIGPIPE, SIG_IGN);
  if (Status st = log::RedirectStderr(config.worker.error_log); !st.ok()) return Fail(st.message());
  std::string crash_error;
  if (!crash::ArmFromEnvironment(&crash_error)) {  // validated here, armed in the worker
    Fail(crash_error);
    return 2;
  }
  crash::Disarm();
  if (const char* at = std::getenv("FC_CRASH_AT"); at != nullptr && *at != '\0') {
    log::Line("crash point ", at, " armed in slot 0's first worker");
  }
  SelfExecutable();  // remembered now: an upgrade runs the binary at this path
  const UpgradeInheritance upgrade = TakeUpgradeInheritance();
  // Every connection is a descriptor: lift the soft limit to the hard one.
  rlimit files;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  char resolved[PATH_MAX];
  if (::realpath(config.worker.root.c_str(), resolved) == nullptr) {
    return Fail("cannot serve \"" + config.worker.root + "\": " + std::strerror(errno));
  }
  struct stat st;
  if (::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Fail("cannot serve \"" + std::string(resolved) + "\": not a directory");
  }
  config.worker.root = resolved;
  config.worker.media_types = worker::LoadMediaTypes(config.worker.mime_types, config.worker.default_type);
  // Sockets from systemd (socket activation) or from the master this one
  // upgrades; otherwise bound here, one per worker.
  auto inherited = InheritListeners();
  if (!inherited.ok()) return Fail(inherited.status().message());
  std::vector<UniqueFd> listeners;
  if (!inherited.value().empty()) {
    listeners = std::move(inherited.value());
    uint16_t port = 0;
    const std::string where = LocalAddress(listeners[0].get(), &port);
    if (config.port != 0 && config.port != port) {
      log::Line("listening on the ", listeners.size(), " inherited sockets (", where, "), not on port ",
                config.port);
    }
    config.port = port;
  } else {
    auto bound = BindListeners(config.host, config.port, static_cast<int>(config.workers), &config.port);
    if (!bound.ok()) return Fail(bound.status().message());
    listeners = std::move(bound.value());
  }
  // The metrics port too, before the drop (and before anything is created
  // that a failure here would have to undo).
  Supervised setup;
  if (!config.metrics_listen.empty() || upgrade.metrics_fd >= 0) {
    auto metrics = MetricsServer::Listen(config.metrics_listen, upgrade.metrics_fd);
    if (!metrics.ok()) return Fail(metrics.status().message());
    setup.metrics = std::move(metrics.value());
  }
  // The port is bound: from here on fc needs no privilege. Everything it
  // creates below (segment, lock directory) belongs to the user it runs as.
  if (::geteuid() == 0 && config.user.empty()) config.user = "nobody";
  if (::geteuid() == 0) {
    // Lets the workers' loader threads return from nice 10 to 0 between jobs
    // once root is gone (loader.cc).
    rlimit nice{20, 20};
    ::setrlimit(RLIMIT_NICE, &nice);
  }
  if (config.cache.shm_name.empty()) config.cache.shm_name = "fc-" + std::to_string(config.port);
  // A start that fails from here on leaves no lock directory it made.
  RemoveIfUnused new_lock_dir;
  if (::geteuid() == 0 && upgrade.from == 0) {
    // The lock directory's parent (/run/fc, or systemd's RuntimeDirectory)
    // belongs to root: make the directory now (or take back one an earlier
    // run as another user left there) and give it to the user fc runs as.
    // Only fc's own default location is taken back; a --lock-dir must pass
    // the usual checks.
    const bool defaulted = config.worker.lock_dir.empty();
    if (Status chosen = ChooseLockDirectory(&config); !chosen.ok()) return Fail(chosen.message());
    if (defaulted && config.user != "root") {
      // In root's base the user could not remove its lock directory when it
      // stops: give the user a directory of its own there, and put it inside.
      std::string& dir = config.worker.lock_dir;
      const size_t slash = dir.find_last_of('/');
      const std::string user_dir = dir.substr(0, slash) + "/" + config.user;
      if (Status claimed = ClaimDirectory(user_dir, config.user, true); !claimed.ok()) {
        return Fail("lock directory: " + claimed.message());
      }
      dir = user_dir + dir.substr(slash);
    }
    bool created = false;
    if (Status claimed = ClaimDirectory(config.worker.lock_dir, config.user, defaulted, &created); !claimed.ok()) {
      return Fail("lock directory: " + claimed.message());
    }
    if (created) new_lock_dir.path = config.worker.lock_dir;
  }
  if (::geteuid() == 0 && config.user != "root" && upgrade.from == 0) {
    // Log files under a root-owned directory (/var/log/fc): create them now
    // for the user, who then appends to them and reopens them (logrotate
    // creates their successors for the same user).
    for (const std::string& path : {config.worker.access_log, config.worker.error_log}) {
      if (path.empty() || path == "-" || path == "off") continue;
      if (Status given = PrepareLogFile(path, config.user); !given.ok()) return Fail(given.message());
    }
  }
  if (Status dropped = DropPrivileges(config.user, config.worker.root); !dropped.ok()) {
    return Fail(dropped.message());
  }
  config.worker.shm_name = config.cache.shm_name;
  // Whatever is at the segment's name must be this user's: another user's file
  // (planted, or another fc's) is neither used nor removed.
  if (Status owner = shm_cache::ShmCache::CheckOwnership(config.cache.shm_name); !owner.ok()) {
    return Fail(owner.message());
  }
  std::unique_ptr<shm_cache::ShmCache> cache;
  bool owns_segment = true;
  if (upgrade.from != 0) {
    config.worker.lock_dir = upgrade.lock_dir;
    config.worker.lock_salt = upgrade.lock_salt;
    config.cache.lock_dir = upgrade.lock_dir;
    auto segment = UpgradeSegment(config, upgrade, &owns_segment);
    if (!segment.ok()) return Fail(segment.status().message());
    cache = std::move(segment.value());
  } else {
    // This user's leftovers of a master that was killed (or a half-built
    // segment) are replaced; a segment whose master still runs is not.
    auto creator = shm_cache::ShmCache::CreatorOf(config.cache.shm_name);
    if (creator.ok() && creator.value().pid != ::getpid() &&
        SameProcessAlive(creator.value().pid, creator.value().start)) {
      return Fail("shared memory segment \"" + config.cache.shm_name + "\" is in use by fc-master pid " +
                  std::to_string(creator.value().pid) + "; choose another --shm-name");
    }
    const bool had_dir = !config.worker.lock_dir.empty() && ::access(config.worker.lock_dir.c_str(), F_OK) == 0;
    if (Status made = PrepareLockDirectory(&config); !made.ok()) return Fail(made.message());
    if (!had_dir) new_lock_dir.path = config.worker.lock_dir;
    config.worker.lock_salt = (uint64_t{std::random_device()()} << 32) ^ std::random_device()();
    shm_cache::ShmCache::Remove(config.cache.shm_name);
    RemoveLockFiles(config.worker.lock_dir, /*and_directory=*/false);  // a dead master's, if any
    config.cache.lock_dir = config.worker.lock_dir;
    auto created = shm_cache::ShmCache::Create(config.cache);
    if (!created.ok()) {
      RemoveLockFiles(config.worker.lock_dir, /*and_directory=*/true);
      return Fail(created.status().message());
    }
    cache = std::move(created.value());
  }
  if (config.workers > cache->worker_slots() / 2) {
    log::Line("the cache has ", cache->worker_slots(), " worker slots: running ",
              cache->worker_slots() / 2, " workers (more need a restart)");
    config.workers = cache->worker_slots() / 2;
  }
  if (setup.metrics) log::Line("metrics at http://", setup.metrics->address(), "/metrics");
  if (!config.cache_size_auto.empty()) {
    log::Line("--cache-size auto: ", config.cache.segment_size >> 20, " MiB (", config.cache_size_auto, ")");
  }
  log::Line("cache \"", config.cache.shm_name, "\": ", config.cache.segment_size, " bytes, ",
            cache->packet_count(), " packets of ", cache->packet_size(), " bytes, policy ",
            shm_cache::PolicyName(cache->policy()), ", layout version ", cache->layout_version(),
            "; lock directory ", config.worker.lock_dir);
  if (!OnTmpfs(config.worker.lock_dir)) {
    // fc's defaults are on a tmpfs; a --lock-dir (or RUNTIME_DIRECTORY) on
    // a disk costs every miss an open there.
    log::Line("lock directory ", config.worker.lock_dir,
              " is not on a tmpfs: every cache miss opens and locks a file there, on disk; "
              "give --lock-dir a directory on a tmpfs (such as /dev/shm)");
  }
  setup.config = std::move(config);
  setup.listeners = std::move(listeners);
  setup.signals = std::move(signal_fd.value());
  setup.cache = std::move(cache);
  setup.upgrade_ready_fd = upgrade.ready_fd;
  setup.owns_segment = owns_segment;
  new_lock_dir.path.clear();  // the supervisor owns it now
  return Supervise(std::move(setup), parsed);
}

}  // namespace fc::master
