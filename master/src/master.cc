// fc-master's policy: start-up (stale leftovers, segment, workers), the
// supervision loop (respawn at once, back off a crash loop), and graceful
// shutdown (stop accepting, drain, stop workers, remove segment and lock files).
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <memory>
#include <vector>

#include "fc/protocol/clock.h"
#include "fc/master/master.h"
#include "fc/protocol/crash_point.h"
#include "fc/protocol/log.h"
#include "fc/protocol/private_dir.h"
#include "fc/protocol/process_start.h"
#include "privileges.h"
#include "process.h"

namespace fc::master {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kQuickDeathNs = 1000 * kMs;      // died sooner than this: maybe a crash loop
constexpr int64_t kBackoffBaseNs = 100 * kMs;
constexpr int64_t kBackoffMaxNs = 10'000 * kMs;
constexpr int kReclaimTimeoutMs = 100;

// A pid is a live fc-master if it exists and its command name says so.
struct Slot {
  pid_t pid = 0;
  int64_t started_ns = 0;
  int quick_deaths = 0;
  int64_t respawn_at_ns = 0;  // 0: not waiting
  pid_t reclaim_pid = 0;      // a reaped pid whose cache slot is not reclaimed yet
  uint64_t reclaim_epoch = 0; // and the slot epoch it had (pids get reused)
};

class Supervisor {
 public:
  Supervisor(MasterConfig config, std::vector<UniqueFd> listeners, UniqueFd signals,
             std::unique_ptr<shm_cache::ShmCache> cache)
      : config_(std::move(config)), listeners_(std::move(listeners)), signals_(std::move(signals)),
        cache_(std::move(cache)), slots_(config_.workers) {}

  int Run();

 private:
  void Spawn(uint32_t index, bool initial = false);
  void ReapChildren();
  void HandleDeath(uint32_t index, int status);
  void RetryReclaims();
  void RespawnDue();
  int64_t NextWakeNs() const;
  int Shutdown(int signal_number);
  bool AnyAlive() const;

  MasterConfig config_;
  // One SO_REUSEPORT listening socket per slot. The master keeps them all, so
  // connections queued on a dead worker's socket wait for its replacement.
  std::vector<UniqueFd> listeners_;
  UniqueFd signals_;
  std::unique_ptr<shm_cache::ShmCache> cache_;
  std::vector<Slot> slots_;
};

void Supervisor::Spawn(uint32_t index, bool initial) {
  worker::WorkerConfig wc = config_.worker;
  // Crash points arm only slot 0's first worker, so a test gets one crash and
  // then watches the recovery (replacements run clean).
  wc.arm_crash_points = initial && index == 0;
  wc.slot = index;
  wc.listen_fd = listeners_[index].get();
  std::vector<int> others = {signals_.get()};
  for (uint32_t i = 0; i < listeners_.size(); ++i) {
    if (i != index) others.push_back(listeners_[i].get());
  }
  auto pid = SpawnChild(others, [&wc] { return worker::RunWorker(wc); });
  Slot& s = slots_[index];
  if (!pid.ok()) {
    log::Line(pid.status().message(), "; retrying");
    s.respawn_at_ns = MonotonicNowNs() + kBackoffBaseNs;
    return;
  }
  s.pid = pid.value();
  s.started_ns = MonotonicNowNs();
  s.respawn_at_ns = 0;
}

void Supervisor::HandleDeath(uint32_t index, int status) {
  Slot& s = slots_[index];
  const int64_t now = MonotonicNowNs();
  const int64_t lived_ms = (now - s.started_ns) / kMs;
  // A worker killed from outside (SIGKILL: an operator, the OOM killer, a chaos
  // test) is replaced at once. One that fails by itself soon after starting is a
  // crash loop: back off exponentially instead of re-forking hot.
  const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (!killed && now - s.started_ns < kQuickDeathNs) {
    ++s.quick_deaths;
  } else {
    s.quick_deaths = 0;
  }
  int64_t delay = 0;
  if (s.quick_deaths > 0) {
    delay = kBackoffBaseNs << std::min(s.quick_deaths - 1, 10);
    delay = std::min(delay, kBackoffMaxNs);
  }
  log::Line("worker slot ", index, " (pid ", s.pid, ") ", DescribeExit(status), " after ", lived_ms,
            " ms; respawning",
            delay > 0 ? " in " + std::to_string(delay / kMs) + " ms (crash loop)" : std::string());
  s.reclaim_pid = s.pid;
  s.reclaim_epoch = cache_->PeekWorkers()[index].epoch;  // lock-free read
  s.pid = 0;
  s.respawn_at_ns = now + delay;
}

void Supervisor::ReapChildren() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].pid == pid) HandleDeath(i, status);
    }
  }
}

void Supervisor::RetryReclaims() {
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    if (s.reclaim_pid == 0) continue;
    Status st = cache_->ReclaimWorker(i, s.reclaim_pid, s.reclaim_epoch, kReclaimTimeoutMs);
    if (st.ok()) {
      s.reclaim_pid = 0;
    } else {
      log::Line(st.message());
    }
  }
}

void Supervisor::RespawnDue() {
  const int64_t now = MonotonicNowNs();
  for (uint32_t i = 0; i < slots_.size(); ++i) {
    Slot& s = slots_[i];
    // Respawn comes first (Run calls this before RetryReclaims): the replacement
    // reclaims the slot's leftovers itself when it attaches, and the master's
    // own reclaim, keyed by (pid, epoch), then finds nothing to do.
    if (s.pid == 0 && s.respawn_at_ns != 0 && s.respawn_at_ns <= now) Spawn(i);
  }
}

int64_t Supervisor::NextWakeNs() const {
  int64_t next = MonotonicNowNs() + 1000 * kMs;
  for (const Slot& s : slots_) {
    if (s.pid == 0 && s.respawn_at_ns != 0) next = std::min(next, s.respawn_at_ns);
    if (s.reclaim_pid != 0) next = std::min(next, MonotonicNowNs() + 50 * kMs);
  }
  return next;
}

bool Supervisor::AnyAlive() const {
  for (const Slot& s : slots_) {
    if (s.pid != 0) return true;
  }
  return false;
}

int Supervisor::Run() {
  for (uint32_t i = 0; i < slots_.size(); ++i) Spawn(i, /*initial=*/true);
  std::printf("listening on %s:%u\n", config_.host.c_str(), config_.port);
  std::fflush(stdout);
  log::Line("serving ", config_.worker.root, " with ", config_.workers, " workers");
  for (;;) {
    const int64_t wait_ms = std::max<int64_t>(0, (NextWakeNs() - MonotonicNowNs() + kMs - 1) / kMs);
    pollfd pfd{signals_.get(), POLLIN, 0};
    const int rc = ::poll(&pfd, 1, static_cast<int>(wait_ms));
    if (rc > 0) {
      signalfd_siginfo info;
      while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) {
          return Shutdown(static_cast<int>(info.ssi_signo));
        }
      }
      ReapChildren();
    }
    RespawnDue();
    RetryReclaims();
  }
}

int Supervisor::Shutdown(int signal_number) {
  log::Line(signal_number == SIGTERM ? "SIGTERM" : "SIGINT", ": stopping (transfers get ",
            config_.worker.shutdown_timeout_ms, " ms to finish)");
  listeners_.clear();  // the master no longer holds the port; workers let go as they drain
  for (const Slot& s : slots_) {
    if (s.pid != 0) ::kill(s.pid, SIGTERM);
  }
  const int64_t deadline = MonotonicNowNs() +
                           int64_t{config_.worker.shutdown_timeout_ms + config_.worker.drain_notice_ms} * kMs +
                           2000 * kMs;
  bool forced = false;
  while (AnyAlive()) {
    const int64_t now = MonotonicNowNs();
    if (now >= deadline && !forced) {
      log::Line("workers still running at the deadline; killing them");
      for (const Slot& s : slots_) {
        if (s.pid != 0) ::kill(s.pid, SIGKILL);
      }
      forced = true;
    }
    pollfd pfd{signals_.get(), POLLIN, 0};
    ::poll(&pfd, 1, 50);
    signalfd_siginfo info;
    while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
      if ((info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) && !forced) {
        log::Line("second stop signal: killing workers now");
        for (const Slot& s : slots_) {
          if (s.pid != 0) ::kill(s.pid, SIGKILL);
        }
        forced = true;
      }
    }
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      for (Slot& s : slots_) {
        if (s.pid == pid) s.pid = 0;
      }
    }
  }
  cache_.reset();
  shm_cache::ShmCache::Remove(config_.cache.shm_name);
  RemoveLockFiles(config_.worker.lock_dir, /*and_directory=*/true);
  log::Line("stopped; removed segment ", config_.cache.shm_name, " and lock directory ",
            config_.worker.lock_dir);
  return 0;
}

}  // namespace

int RunMaster(MasterConfig config) {
  log::SetProgram("fc-master");
  std::string crash_error;
  if (!crash::ArmFromEnvironment(&crash_error)) {  // validated here, armed in the worker
    std::fprintf(stderr, "fc-master: %s\n", crash_error.c_str());
    return 2;
  }
  crash::Disarm();
  if (const char* at = std::getenv("FC_CRASH_AT"); at != nullptr && *at != '\0') {
    log::Line("crash point ", at, " armed in slot 0's first worker");
  }
  // Every connection is a descriptor: lift the soft limit to the hard one.
  rlimit files;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  char resolved[PATH_MAX];
  if (::realpath(config.worker.root.c_str(), resolved) == nullptr) {
    std::fprintf(stderr, "fc-master: cannot serve \"%s\": %s\n", config.worker.root.c_str(),
                 std::strerror(errno));
    return 1;
  }
  struct stat st;
  if (::stat(resolved, &st) != 0 || !S_ISDIR(st.st_mode)) {
    std::fprintf(stderr, "fc-master: cannot serve \"%s\": not a directory\n", resolved);
    return 1;
  }
  config.worker.root = resolved;
  config.worker.media_types = worker::LoadMediaTypes(config.worker.mime_types, config.worker.default_type);
  auto listeners =
      BindListeners(config.host, config.port, static_cast<int>(config.workers), &config.port);
  if (!listeners.ok()) {
    std::fprintf(stderr, "fc-master: %s\n", listeners.status().message().c_str());
    return 1;
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
  if (Status dropped = DropPrivileges(config.user, config.worker.root); !dropped.ok()) {
    std::fprintf(stderr, "fc-master: %s\n", dropped.message().c_str());
    return 1;
  }
  if (config.cache.shm_name.empty()) config.cache.shm_name = "fc-" + std::to_string(config.port);
  config.worker.shm_name = config.cache.shm_name;
  // Whatever is at the segment's name must be this user's: another user's file
  // (planted, or another fc's) is neither used nor removed.
  if (Status owner = shm_cache::ShmCache::CheckOwnership(config.cache.shm_name); !owner.ok()) {
    std::fprintf(stderr, "fc-master: %s\n", owner.message().c_str());
    return 1;
  }
  // This user's leftovers of a master that was killed (or a half-built
  // segment) are replaced; a segment whose master still runs is not.
  auto creator = shm_cache::ShmCache::CreatorOf(config.cache.shm_name);
  if (creator.ok() && creator.value().pid != ::getpid() &&
      SameProcessAlive(creator.value().pid, creator.value().start)) {
    std::fprintf(stderr, "fc-master: shared memory segment \"%s\" is in use by fc-master pid %d;"
                 " choose another --shm-name\n", config.cache.shm_name.c_str(), creator.value().pid);
    return 1;
  }
  if (config.worker.lock_dir.empty()) {
    auto dir = DefaultLockDirectory(config.cache.shm_name);
    if (!dir.ok()) {
      std::fprintf(stderr, "fc-master: cannot choose a lock directory: %s\n",
                   dir.status().message().c_str());
      return 1;
    }
    config.worker.lock_dir = dir.value();
  }
  if (Status dir_status = EnsurePrivateDirectory(config.worker.lock_dir); !dir_status.ok()) {
    std::fprintf(stderr, "fc-master: lock directory: %s\n", dir_status.message().c_str());
    return 1;
  }
  config.worker.lock_salt = (uint64_t{std::random_device()()} << 32) ^ std::random_device()();
  shm_cache::ShmCache::Remove(config.cache.shm_name);
  RemoveLockFiles(config.worker.lock_dir, /*and_directory=*/false);  // a dead master's, if any
  config.cache.lock_dir = config.worker.lock_dir;
  auto cache = shm_cache::ShmCache::Create(config.cache);
  if (!cache.ok()) {
    std::fprintf(stderr, "fc-master: %s\n", cache.status().message().c_str());
    RemoveLockFiles(config.worker.lock_dir, /*and_directory=*/true);
    return 1;
  }
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGCHLD);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  auto signal_fd = OpenSignalFd(signals);
  if (!signal_fd.ok()) {
    std::fprintf(stderr, "fc-master: %s\n", signal_fd.status().message().c_str());
    return 1;
  }
  ::signal(SIGPIPE, SIG_IGN);
  log::Line("cache \"", config.cache.shm_name, "\": ", config.cache.segment_size, " bytes, ",
            cache.value()->packet_count(), " packets of ", cache.value()->packet_size(), " bytes, policy ",
            shm_cache::PolicyName(config.cache.policy), "; lock directory ", config.worker.lock_dir);
  Supervisor supervisor(std::move(config), std::move(listeners.value()),
                        std::move(signal_fd.value()), std::move(cache.value()));
  return supervisor.Run();
}

}  // namespace fc::master
