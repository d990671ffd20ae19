// The supervisor; see supervisor.h. Single-threaded: one poll loop over the
// signalfd, the upgrade pipe and the metrics sockets.
#include "supervisor.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fc/base/clock.h"
#include "fc/base/log.h"
#include "fc/base/sched.h"
#include "fc/base/private_dir.h"
#include "listeners.h"
#include "metrics_server.h"
#include "notify.h"
#include "process.h"
#include "death_watch.h"
#include "standby.h"
#include "upgrade.h"

namespace fc::master {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kQuickDeathNs = 1000 * kMs;  // died sooner than this: maybe a crash loop
constexpr int64_t kBackoffBaseNs = 100 * kMs;
constexpr int64_t kBackoffMaxNs = 10'000 * kMs;
constexpr int kReclaimTimeoutMs = 100;
constexpr uint32_t kNoSlot = UINT32_MAX;

// A position: one listening socket and the worker serving it.
struct Position {
  pid_t pid = 0;
  uint32_t slot = kNoSlot;
  int64_t started_ns = 0;
  int quick_deaths = 0;
  int64_t respawn_at_ns = 0;  // 0: not waiting
  bool replace = false;       // a reload asked for a worker with the new configuration
  pid_t next_pid = 0;         // that replacement, until it serves
  uint32_t next_slot = kNoSlot;
};

// A worker that was asked to drain (reload, fewer workers), or one replaced
// already because a thread of it exited (`dying`), that has not been reaped.
struct Retiring {
  pid_t pid;
  uint32_t slot;
  bool dying = false;
  int64_t started_ns = 0;
};

// A dead worker's slot, to be cleared of its pins (by pid and epoch: pids get reused).
struct Reclaim {
  uint32_t slot;
  pid_t pid;
  uint64_t epoch;
};

class Supervisor {
 public:
  Supervisor(Supervised s, MasterConfig parsed)
      : config_(std::move(s.config)), parsed_(std::move(parsed)), listeners_(std::move(s.listeners)),
        signals_(std::move(s.signals)), cache_(std::move(s.cache)), metrics_(std::move(s.metrics)),
        ready_fd_(s.upgrade_ready_fd), owns_segment_(s.owns_segment),
        positions_(config_.workers) {}

  int Run();

 private:
  // Workers.
  uint32_t FreeSlot() const;
  pid_t StartWorker(uint32_t position, uint32_t slot, bool initial);
  std::vector<int> FdsWorkersClose(int keep_listener) const;
  void StartStandby();
  void Spawn(uint32_t position, bool initial = false);
  void Reap();
  void OnPositionDeath(Position& p, int status);
  void WatchServingWorkers();
  void OnThreadExit(pid_t pid);
  void QueueReclaim(uint32_t slot, pid_t pid);
  void RetryReclaims();
  void ReclaimStrangers();
  void RespawnDue();
  bool Serving(pid_t pid, uint32_t slot) const;
  void AdvanceReplacement();
  void CheckReady();
  int64_t NextWakeNs() const;
  void SignalWorkers(int signal_number);
  bool AnyWorker() const;

  // Signals.
  void Reload();
  void ApplyPositions(uint32_t count);
  void ReopenLogs();
  void StartUpgrade();
  void OnUpgradeReadable();
  void UpgradeFailed(const std::string& why);
  int Stop(const char* why);

  MasterConfig config_;
  MasterConfig parsed_;  // as last parsed (before defaults were resolved): what a reload compares
  std::vector<UniqueFd> listeners_;
  UniqueFd signals_;
  std::unique_ptr<shm_cache::ShmCache> cache_;
  std::unique_ptr<MetricsServer> metrics_;
  int ready_fd_;        // a new master's "I serve" pipe to the old one; -1 once said
  bool owns_segment_;   // false until an upgraded master has taken over
  bool ready_ = false;  // every position served once (READY=1 sent)
  bool reloading_ = false;
  bool handed_over_ = false;
  bool stop_after_failed_upgrade_ = false;
  std::vector<Position> positions_;
  std::vector<Retiring> retiring_;
  std::vector<Reclaim> reclaims_;
  UpgradeChild upgrade_;
  Standby standby_;
  DeathWatch death_watch_;
  int64_t standby_due_ns_ = 0;  // when to fork the next standby (0: none due)
  int64_t last_stranger_scan_ns_ = 0;
};

uint32_t Supervisor::FreeSlot() const {
  const std::vector<shm_cache::WorkerInfo> workers = cache_->PeekWorkers();
  for (uint32_t s = 0; s < workers.size(); ++s) {
    bool taken = false;
    for (const Position& p : positions_) taken = taken || p.slot == s || p.next_slot == s;
    for (const Retiring& r : retiring_) taken = taken || r.slot == s;
    for (const Reclaim& r : reclaims_) taken = taken || r.slot == s;
    // Another master's worker (during an upgrade), or one not reclaimed yet.
    if (workers[s].pid != 0 && ::kill(workers[s].pid, 0) == 0) taken = true;
    if (!taken) return s;
  }
  return kNoSlot;
}

// What a forked worker must not keep: the master's own descriptors, and every
// listening socket but `keep_listener` (-1: keep them all, a standby's case).
std::vector<int> Supervisor::FdsWorkersClose(int keep_listener) const {
  std::vector<int> others = {signals_.get()};
  if (keep_listener >= 0) {
    for (const UniqueFd& fd : listeners_) {
      if (fd.get() != keep_listener) others.push_back(fd.get());
    }
  }
  if (metrics_) metrics_->AppendFds(&others);
  if (upgrade_.ready.valid()) others.push_back(upgrade_.ready.get());
  if (ready_fd_ >= 0) others.push_back(ready_fd_);
  if (standby_.activate_fd() >= 0) others.push_back(standby_.activate_fd());
  return others;
}

void Supervisor::StartStandby() {
  standby_due_ns_ = 0;
  std::vector<int> listeners;
  for (const UniqueFd& fd : listeners_) listeners.push_back(fd.get());
  if (!standby_.Start(config_.worker, listeners, FdsWorkersClose(-1))) standby_due_ns_ = MonotonicNowNs() + 1000 * kMs;
}

pid_t Supervisor::StartWorker(uint32_t position, uint32_t slot, bool initial) {
  const int listener = listeners_[position % listeners_.size()].get();
  if (!initial && standby_.ready()) {
    // A replacement: the standby, prepared already, takes the slot at once.
    const pid_t pid = standby_.Activate(slot, listener);
    // The next one a little later: the replacement starts on the CPUs first.
    standby_due_ns_ = MonotonicNowNs() + 50 * kMs;
    if (pid != 0) return pid;
  }
  worker::WorkerConfig wc = config_.worker;
  // Crash points arm only position 0's first worker, so a test gets one crash
  // and then watches the recovery (replacements run clean).
  wc.arm_crash_points = initial && position == 0;
  wc.slot = slot;
  wc.listen_fd = listener;
  auto pid = SpawnChild(FdsWorkersClose(listener), [&wc] { return worker::RunWorker(wc); });
  if (!pid.ok()) {
    log::Line(pid.status().message(), "; retrying");
    return 0;
  }
  return pid.value();
}

void Supervisor::Spawn(uint32_t index, bool initial) {
  Position& p = positions_[index];
  p.respawn_at_ns = 0;
  const uint32_t slot = FreeSlot();
  const pid_t pid = slot == kNoSlot ? 0 : StartWorker(index, slot, initial);
  if (pid == 0) {
    if (slot == kNoSlot) log::Line("no free cache slot for worker ", index, "; retrying");
    p.respawn_at_ns = MonotonicNowNs() + kBackoffBaseNs;
    return;
  }
  p.pid = pid;
  p.slot = slot;
  p.started_ns = MonotonicNowNs();
  p.replace = false;  // it runs the current configuration
}

bool Supervisor::Serving(pid_t pid, uint32_t slot) const {
  const std::vector<shm_cache::WorkerInfo> workers = cache_->PeekWorkers();
  return slot < workers.size() && workers[slot].pid == pid && workers[slot].serving;
}

void Supervisor::QueueReclaim(uint32_t slot, pid_t pid) {
  if (slot == kNoSlot) return;
  const auto workers = cache_->PeekWorkers();  // lock-free read
  reclaims_.push_back({slot, pid, slot < workers.size() ? workers[slot].epoch : 0});
}

void Supervisor::OnPositionDeath(Position& p, int status) {
  const int64_t now = MonotonicNowNs();
  const int64_t lived_ms = (now - p.started_ns) / kMs;
  // A worker killed from outside (SIGKILL: an operator, the OOM killer, a chaos
  // test) is replaced at once. One that fails by itself soon after starting is a
  // crash loop: back off exponentially instead of re-forking hot.
  const bool killed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  if (!killed && now - p.started_ns < kQuickDeathNs) {
    ++p.quick_deaths;
  } else {
    p.quick_deaths = 0;
  }
  int64_t delay = 0;
  if (p.quick_deaths > 0) {
    delay = std::min(kBackoffBaseNs << std::min(p.quick_deaths - 1, 10), kBackoffMaxNs);
  }
  log::Line("worker slot ", p.slot, " (pid ", p.pid, ") ", DescribeExit(status), " after ", lived_ms,
            " ms; respawning",
            delay > 0 ? " in " + std::to_string(delay / kMs) + " ms (crash loop)" : std::string());
  if (metrics_) metrics_->CountRestart();
  QueueReclaim(p.slot, p.pid);
  p.pid = 0;
  p.slot = kNoSlot;
  p.respawn_at_ns = now + delay;
}

void Supervisor::Reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == upgrade_.pid) {
      upgrade_.pid = 0;
      UpgradeFailed("the new master (pid " + std::to_string(pid) + ") " + DescribeExit(status));
      continue;
    }
    if (standby_.OnExit(pid)) {
      // A standby that died by itself is forked again, but not hot.
      if (!standby_.ready() && standby_due_ns_ == 0) standby_due_ns_ = MonotonicNowNs() + 1000 * kMs;
      continue;
    }
    for (uint32_t i = 0; i < positions_.size(); ++i) {
      Position& p = positions_[i];
      if (p.pid == pid) OnPositionDeath(p, status);
      if (p.next_pid == pid) {
        log::Line("reload: the new worker for position ", i, " (pid ", pid, ") ", DescribeExit(status),
                  " before serving; the old one keeps serving");
        QueueReclaim(p.next_slot, pid);
        p.next_pid = 0;
        p.next_slot = kNoSlot;
        p.replace = false;
      }
    }
    for (size_t i = 0; i < retiring_.size(); ++i) {
      if (retiring_[i].pid != pid) continue;
      if (retiring_[i].dying) {
        log::Line("worker slot ", retiring_[i].slot, " (pid ", pid, ") ", DescribeExit(status), " after ",
                  (MonotonicNowNs() - retiring_[i].started_ns) / kMs, " ms; replaced already");
      }
      QueueReclaim(retiring_[i].slot, pid);
      retiring_.erase(retiring_.begin() + static_cast<long>(i));
      break;
    }
  }
}

// Watches the threads of every worker that serves (DeathWatch), and none other.
void Supervisor::WatchServingWorkers() {
  std::vector<pid_t> live;
  bool unwatched = false;
  for (const Position& p : positions_) {
    if (p.pid == 0) continue;
    live.push_back(p.pid);
    unwatched = unwatched || !death_watch_.watching(p.pid);
  }
  death_watch_.KeepOnly(live);
  if (!unwatched || !death_watch_.supported()) return;
  for (const Position& p : positions_) {
    if (p.pid != 0 && !death_watch_.watching(p.pid) && Serving(p.pid, p.slot)) death_watch_.Watch(p.pid);
  }
}

// A thread of a serving worker exited: the worker is dying (death_watch.h).
// It is replaced now and reaped later. One that dies within a second of its
// start is left to the reap, whose exit status decides about a crash loop.
void Supervisor::OnThreadExit(pid_t pid) {
  for (uint32_t i = 0; i < positions_.size(); ++i) {
    Position& p = positions_[i];
    if (p.pid != pid) continue;
    const int64_t lived = MonotonicNowNs() - p.started_ns;
    if (lived < kQuickDeathNs) return;
    // Whatever ended the thread, the worker must not serve on beside its
    // replacement: finish it (a SIGKILLed one is dying already).
    ::kill(pid, SIGKILL);
    log::Line("worker slot ", p.slot, " (pid ", pid, ") is dying (a thread of it exited after ", lived / kMs,
              " ms); replacing it now");
    if (metrics_) metrics_->CountRestart();
    retiring_.push_back({pid, p.slot, /*dying=*/true, p.started_ns});
    p.pid = 0;
    p.slot = kNoSlot;
    p.quick_deaths = 0;
    Spawn(i);
    return;
  }
}

void Supervisor::RetryReclaims() {
  for (size_t i = 0; i < reclaims_.size();) {
    const Reclaim& r = reclaims_[i];
    Status st = cache_->ReclaimWorker(r.slot, r.pid, r.epoch, kReclaimTimeoutMs);
    if (st.ok()) {
      reclaims_.erase(reclaims_.begin() + static_cast<long>(i));
    } else {
      log::Line(st.message());
      ++i;
    }
  }
}

// Slots whose process is gone but that no one here reaped: the workers of a
// new master that failed (or of an old one that handed over and died). Only
// the dead are touched; ReclaimWorker checks pid and epoch under the lock.
void Supervisor::ReclaimStrangers() {
  const int64_t now = MonotonicNowNs();
  if (now - last_stranger_scan_ns_ < 1000 * kMs) return;
  last_stranger_scan_ns_ = now;
  const auto workers = cache_->PeekWorkers();
  for (uint32_t s = 0; s < workers.size(); ++s) {
    const pid_t pid = workers[s].pid;
    if (pid == 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    bool known = false;
    for (const Reclaim& r : reclaims_) known = known || r.slot == s;
    if (!known) reclaims_.push_back({s, pid, workers[s].epoch});
  }
}

void Supervisor::RespawnDue() {
  const int64_t now = MonotonicNowNs();
  for (uint32_t i = 0; i < positions_.size(); ++i) {
    Position& p = positions_[i];
    // Respawn comes first (Run calls this before RetryReclaims): the replacement
    // reclaims its slot's leftovers itself when it attaches, and the master's
    // own reclaim, keyed by (pid, epoch), then finds nothing to do.
    if (p.pid == 0 && p.respawn_at_ns != 0 && p.respawn_at_ns <= now) Spawn(i);
  }
  if (!standby_.ready() && standby_due_ns_ != 0 && standby_due_ns_ <= now) StartStandby();
}

// A reload replaces one worker at a time: start the new one in a free slot,
// and once it serves, ask the old one to drain (it finishes its transfers and
// exits on its own; the listening socket stays open in the master throughout).
void Supervisor::AdvanceReplacement() {
  if (!reloading_) return;
  for (uint32_t i = 0; i < positions_.size(); ++i) {
    Position& p = positions_[i];
    if (p.next_pid != 0) {
      if (!Serving(p.next_pid, p.next_slot)) return;  // wait for it
      if (p.pid != 0) {
        ::kill(p.pid, SIGTERM);
        retiring_.push_back({p.pid, p.slot});
      }
      p.pid = p.next_pid;
      p.slot = p.next_slot;
      p.started_ns = MonotonicNowNs();
      p.next_pid = 0;
      p.next_slot = kNoSlot;
      p.replace = false;
      continue;
    }
    if (!p.replace) continue;
    if (p.pid == 0) {  // dead and waiting: its respawn brings the new configuration
      p.replace = false;
      continue;
    }
    const uint32_t slot = FreeSlot();
    const pid_t pid = slot == kNoSlot ? 0 : StartWorker(i, slot, false);
    if (pid == 0) return;  // no slot free yet (a drained worker will free one): try again
    p.next_pid = pid;
    p.next_slot = slot;
    return;
  }
  reloading_ = false;
  log::Line("reload: done; every worker runs the new configuration (", positions_.size(), " workers)");
  Notify("READY=1");
}

void Supervisor::CheckReady() {
  if (ready_) return;
  for (const Position& p : positions_) {
    if (p.pid == 0 || !Serving(p.pid, p.slot)) return;
  }
  ready_ = true;
  if (ready_fd_ >= 0) {
    // An upgrade: the segment is ours from now on, and the old master may go.
    cache_->TakeOver();
    owns_segment_ = true;
    (void)!::write(ready_fd_, "READY\n", 6);
    ::close(ready_fd_);
    ready_fd_ = -1;
    log::Line("upgrade: serving; the old master drains and exits");
  }
  Notify("READY=1\nMAINPID=" + std::to_string(::getpid()));
}

int64_t Supervisor::NextWakeNs() const {
  const int64_t now = MonotonicNowNs();
  int64_t next = now + 1000 * kMs;
  for (const Position& p : positions_) {
    if (p.pid == 0 && p.respawn_at_ns != 0) next = std::min(next, p.respawn_at_ns);
  }
  if (!reclaims_.empty() || reloading_ || !ready_) next = std::min(next, now + 20 * kMs);
  // A worker not watched yet (DeathWatch) is looked at again soon: it serves
  // within milliseconds of its start.
  for (const Position& p : positions_) {
    if (p.pid != 0 && death_watch_.supported() && !death_watch_.watching(p.pid)) {
      next = std::min(next, now + 20 * kMs);
    }
  }
  if (upgrade_.pid != 0) next = std::min(next, upgrade_.deadline_ns);
  if (metrics_) next = std::min(next, now + 500 * kMs);
  if (standby_due_ns_ != 0) next = std::min(next, standby_due_ns_);
  return next;
}

void Supervisor::SignalWorkers(int signal_number) {
  for (const Position& p : positions_) {
    if (p.pid != 0) ::kill(p.pid, signal_number);
    if (p.next_pid != 0) ::kill(p.next_pid, signal_number);
  }
  for (const Retiring& r : retiring_) ::kill(r.pid, signal_number);
  if (standby_.ready()) ::kill(standby_.pid(), signal_number);  // USR1: it reopens its logs too
  for (pid_t pid : standby_.exiting()) ::kill(pid, signal_number);
}

bool Supervisor::AnyWorker() const {
  for (const Position& p : positions_) {
    if (p.pid != 0 || p.next_pid != 0) return true;
  }
  return !retiring_.empty() || standby_.ready() || !standby_.exiting().empty();
}

void Supervisor::ReopenLogs() {
  if (Status st = log::RedirectStderr(config_.worker.error_log); !st.ok()) log::Line("SIGUSR1: ", st.message());
  log::Line("SIGUSR1: reopening the logs");
  SignalWorkers(SIGUSR1);
}

// Grows or shrinks the set of positions to `count` (a reload changed --workers).
void Supervisor::ApplyPositions(uint32_t count) {
  const uint32_t before = static_cast<uint32_t>(positions_.size());
  if (count < before) {
    // Steer new connections away from the retiring positions' sockets first,
    // so that none is left queued on a socket nobody accepts from. The sockets
    // stay open (and out of the steering) for a later reload that adds workers.
    if (listeners_.size() > count) {
      if (Status st = SteerListeners(listeners_[0].get(), count, static_cast<uint32_t>(listeners_.size()));
          !st.ok()) {
        log::Line("reload: ", st.message(), "; keeping ", before, " workers");
        return;
      }
    }
    for (uint32_t i = count; i < before; ++i) {
      Position& p = positions_[i];
      if (p.pid != 0) {
        ::kill(p.pid, SIGTERM);
        retiring_.push_back({p.pid, p.slot});
      }
      if (p.next_pid != 0) {
        ::kill(p.next_pid, SIGTERM);
        retiring_.push_back({p.next_pid, p.next_slot});
      }
    }
    positions_.resize(count);
    return;
  }
  bool shared = false;
  while (listeners_.size() < count && !shared) {
    auto joined = JoinListeners(listeners_[0].get());
    if (!joined.ok()) {
      // A port below 1024 once root is gone, or one inherited socket from
      // systemd: the new workers share sockets instead.
      log::Line("reload: ", joined.status().message(), "; new workers share listening sockets");
      shared = true;
      break;
    }
    listeners_.push_back(std::move(joined.value()));
  }
  positions_.resize(count);
  const uint32_t active = std::min<uint32_t>(count, static_cast<uint32_t>(listeners_.size()));
  if (Status st = SteerListeners(listeners_[0].get(), active, static_cast<uint32_t>(listeners_.size()));
      !st.ok()) {
    log::Line("reload: ", st.message());
  }
  for (uint32_t i = before; i < count; ++i) Spawn(i);
}

void Supervisor::Reload() {
  Notify(ReloadingState());
  std::vector<char*> argv;
  for (std::string& a : config_.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  MasterConfig next;
  bool run = false;
  std::string error;
  ParseCommandLine(static_cast<int>(config_.argv.size()), argv.data(), &next, &run, &error);
  const std::string source = config_.config_file.empty() ? "the command line" : config_.config_file;
  if (!run) {
    log::Line("SIGHUP: ", error, "; keeping the running configuration");
    Notify("READY=1");
    return;
  }
  char resolved[PATH_MAX];
  struct stat st;
  if (::realpath(next.worker.root.c_str(), resolved) == nullptr || ::stat(resolved, &st) != 0 ||
      !S_ISDIR(st.st_mode)) {
    log::Line("SIGHUP: cannot serve \"", next.worker.root, "\": ",
              errno != 0 ? std::strerror(errno) : "not a directory", "; keeping the running configuration");
    Notify("READY=1");
    return;
  }
  // What lives in the segment or the sockets cannot change without a restart.
  auto keep = [](bool differs, const char* option, const std::string& running) {
    if (differs) log::Line("SIGHUP: ", option, " needs a restart; keeping ", running);
  };
  keep(next.host != parsed_.host, "--host", parsed_.host);
  keep(next.port != parsed_.port, "--port", std::to_string(parsed_.port));
  keep(next.cache.segment_size != parsed_.cache.segment_size, "--cache-size",
       std::to_string(parsed_.cache.segment_size) + " bytes");
  keep(next.cache.packet_size != parsed_.cache.packet_size, "--packet-size",
       std::to_string(parsed_.cache.packet_size) + " bytes");
  keep(next.cache.policy != parsed_.cache.policy, "--policy", shm_cache::PolicyName(parsed_.cache.policy));
  keep(next.cache.shm_name != parsed_.cache.shm_name, "--shm-name", config_.cache.shm_name);
  keep(next.worker.lock_dir != parsed_.worker.lock_dir, "--lock-dir", config_.worker.lock_dir);
  keep(next.user != parsed_.user, "--user", parsed_.user.empty() ? "the default" : parsed_.user);
  keep(next.metrics_listen != parsed_.metrics_listen, "--metrics-listen",
       parsed_.metrics_listen.empty() ? "off" : parsed_.metrics_listen);
  uint32_t workers = next.workers;
  // Each replacement needs a free slot while the worker it replaces drains.
  const uint32_t most = cache_->worker_slots() / 2;
  if (workers > most) {
    log::Line("SIGHUP: --workers ", workers, " needs a restart (the cache has slots for ", most,
              " during a reload); running ", most);
    workers = most;
  }
  worker::WorkerConfig w = next.worker;
  w.root = resolved;
  w.shm_name = config_.worker.shm_name;
  w.lock_dir = config_.worker.lock_dir;
  w.lock_salt = config_.worker.lock_salt;
  w.media_types = worker::LoadMediaTypes(w.mime_types, w.default_type);
  config_.worker = w;
  config_.workers = workers;
  config_.worker.error_log = next.worker.error_log;
  config_.upgrade_binary = next.upgrade_binary;
  config_.upgrade_timeout_ms = next.upgrade_timeout_ms;
  config_.config_file = next.config_file;
  if (Status redirected = log::RedirectStderr(config_.worker.error_log); !redirected.ok()) {
    log::Line("SIGHUP: ", redirected.message());
  }
  log::Line("SIGHUP: configuration read from ", source, "; replacing ", positions_.size(),
            " workers one at a time (", workers, " after the reload)");
  // The standby runs the old configuration: another one, with the new.
  standby_.Dismiss();
  standby_due_ns_ = MonotonicNowNs() + 50 * kMs;
  for (Position& p : positions_) p.replace = true;
  ApplyPositions(workers);
  reloading_ = true;
  AdvanceReplacement();
}

void Supervisor::StartUpgrade() {
  if (upgrade_.pid != 0) {
    log::Line("SIGUSR2: an upgrade is already under way (new master pid ", upgrade_.pid, ")");
    return;
  }
  if (ready_fd_ >= 0 || reloading_) {
    log::Line("SIGUSR2: ignored while ", reloading_ ? "a reload" : "this master's own upgrade",
              " is under way");
    return;
  }
  UpgradeHandover handover;
  handover.binary = config_.upgrade_binary.empty() ? SelfExecutable() : config_.upgrade_binary;
  handover.argv = config_.argv;
  for (const UniqueFd& fd : listeners_) handover.listeners.push_back(fd.get());
  handover.metrics_fd = metrics_ ? metrics_->listen_fd() : -1;
  handover.lock_dir = config_.worker.lock_dir;
  handover.lock_salt = config_.worker.lock_salt;
  handover.shm_name = config_.cache.shm_name;
  auto child = StartNewMaster(handover);
  if (!child.ok()) {
    log::Line("SIGUSR2: ", child.status().message(), "; still serving");
    return;
  }
  upgrade_ = std::move(child.value());
  upgrade_.deadline_ns = MonotonicNowNs() + int64_t{config_.upgrade_timeout_ms} * kMs;
  log::Line("SIGUSR2: started ", handover.binary, " as pid ", upgrade_.pid, "; it gets ",
            config_.upgrade_timeout_ms, " ms to serve");
}

void Supervisor::UpgradeFailed(const std::string& why) {
  log::Line("upgrade failed: ", why, "; the old master keeps serving");
  if (upgrade_.pid != 0) {
    ::kill(upgrade_.pid, SIGKILL);  // its workers follow (PR_SET_PDEATHSIG) and are reclaimed
    upgrade_.pid = 0;
  }
  upgrade_.ready.Reset();
  last_stranger_scan_ns_ = 0;
  // Across a layout change the new master built a fresh segment under the
  // name: this master's respawned workers would attach to it. Stop cleanly
  // instead (a service manager restarts fc on the new layout).
  auto creator = shm_cache::ShmCache::CreatorOf(config_.cache.shm_name);
  if (!creator.ok()) {
    log::Line("upgrade failed after replacing the segment (", creator.status().message(),
              "); stopping");
    stop_after_failed_upgrade_ = true;
    return;
  }
  cache_->TakeOver();
  Notify("MAINPID=" + std::to_string(::getpid()));
}

void Supervisor::OnUpgradeReadable() {
  char buf[16];
  const ssize_t n = ::read(upgrade_.ready.get(), buf, sizeof(buf));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n >= 5 && std::string(buf, 5) == "READY") {
    log::Line("upgrade: new master pid ", upgrade_.pid, " serves; draining the old workers");
    Notify("MAINPID=" + std::to_string(upgrade_.pid));
    handed_over_ = true;
    upgrade_.ready.Reset();
    return;
  }
  // EOF without READY: it exited (Reap says how) or closed the pipe.
  upgrade_.ready.Reset();
  if (upgrade_.pid != 0) UpgradeFailed("the new master closed its pipe before serving");
}

int Supervisor::Run() {
  // A dead worker's SIGCHLD must wake this loop at once, even with every CPU
  // busy serving; what it forks (workers, the standby, an upgrade) starts
  // with the scheduler's defaults.
  sched::PromptWakeups(true, /*reset_on_fork=*/true);
  for (uint32_t i = 0; i < positions_.size(); ++i) Spawn(i, /*initial=*/true);
  StartStandby();
  uint16_t port = 0;
  const std::string where = LocalAddress(listeners_[0].get(), &port);
  std::printf("listening on %s:%u\n", config_.host.c_str(), port);
  std::fflush(stdout);
  log::Line("serving ", config_.worker.root, " on ", where, " with ", config_.workers, " workers");
  for (;;) {
    std::vector<pollfd> fds = {{signals_.get(), POLLIN, 0}};
    // Whether fds[1] is the upgrade pipe: a signal handled below may start an
    // upgrade, so the pipe's validity then no longer says what was polled.
    const bool polled_upgrade = upgrade_.ready.valid();
    if (polled_upgrade) fds.push_back({upgrade_.ready.get(), POLLIN, 0});
    const size_t metrics_from = fds.size();
    if (metrics_) metrics_->AppendPollFds(&fds);
    WatchServingWorkers();
    death_watch_.AppendPollFds(&fds);
    const int64_t wait_ms =
        std::max<int64_t>(0, (NextWakeNs() - MonotonicNowNs() + kMs - 1) / kMs);
    const int rc = ::poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
    if (rc > 0) {
      for (pid_t pid : death_watch_.Exited(fds)) OnThreadExit(pid);
      if (fds[0].revents != 0) {
        signalfd_siginfo info;
        while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
          switch (info.ssi_signo) {
            case SIGTERM: return Stop("SIGTERM");
            case SIGINT: return Stop("SIGINT");
            case SIGHUP: Reload(); break;
            case SIGUSR1: ReopenLogs(); break;
            case SIGUSR2: StartUpgrade(); break;
            default: break;  // SIGCHLD: Reap below
          }
        }
      }
      if (polled_upgrade && upgrade_.ready.valid() && fds[1].revents != 0) OnUpgradeReadable();
      if (handed_over_) return Stop("upgrade");
      if (metrics_) {
        metrics_->OnPoll(fds, metrics_from,
                         MetricsSource{cache_.get(), static_cast<uint32_t>(positions_.size())});
      }
    }
    Reap();
    if (upgrade_.pid != 0 && MonotonicNowNs() >= upgrade_.deadline_ns) {
      UpgradeFailed("the new master did not serve within the deadline");
    }
    if (stop_after_failed_upgrade_) return Stop("failed upgrade");
    RespawnDue();
    RetryReclaims();
    ReclaimStrangers();
    AdvanceReplacement();
    CheckReady();
    if (metrics_) metrics_->Sweep();
  }
}

int Supervisor::Stop(const char* why) {
  const bool upgrade = handed_over_;
  if (!upgrade) Notify("STOPPING=1");
  log::Line(why, ": stopping (transfers get ", config_.worker.shutdown_timeout_ms, " ms to finish)");
  metrics_.reset();
  listeners_.clear();  // the master no longer holds the port; workers let go as they drain
  SignalWorkers(SIGTERM);
  if (upgrade_.pid != 0 && !upgrade) {
    // Stopped during a hand-over that has not finished: the stop is for the
    // whole service, so the new master (this one's child, its workers in this
    // segment) stops too, before the segment is removed.
    log::Line(why, " during an upgrade: stopping the new master (pid ", upgrade_.pid, ") too");
    ::kill(upgrade_.pid, SIGTERM);
  }
  const int64_t deadline = MonotonicNowNs() +
                           int64_t{config_.worker.shutdown_timeout_ms + config_.worker.drain_notice_ms} * kMs +
                           2000 * kMs;
  bool forced = false;
  auto kill_all = [this, &forced](const char* reason) {
    log::Line(reason);
    SignalWorkers(SIGKILL);
    if (upgrade_.pid != 0) ::kill(upgrade_.pid, SIGKILL);
    forced = true;
  };
  while (AnyWorker() || (upgrade_.pid != 0 && !upgrade)) {
    if (MonotonicNowNs() >= deadline && !forced) kill_all("workers still running at the deadline; killing them");
    pollfd pfd{signals_.get(), POLLIN, 0};
    ::poll(&pfd, 1, 50);
    signalfd_siginfo info;
    while (::read(signals_.get(), &info, sizeof(info)) == sizeof(info)) {
      if ((info.ssi_signo == SIGTERM || info.ssi_signo == SIGINT) && !forced) {
        kill_all("second stop signal: killing workers now");
      }
    }
    for (;;) {
      int status = 0;
      const pid_t pid = ::waitpid(-1, &status, WNOHANG);
      if (pid <= 0) break;
      if (pid == upgrade_.pid) upgrade_.pid = 0;
      standby_.OnExit(pid);
      for (Position& p : positions_) {
        if (p.pid == pid) p.pid = 0;
        if (p.next_pid == pid) p.next_pid = 0;
      }
      retiring_.erase(std::remove_if(retiring_.begin(), retiring_.end(),
                                     [pid](const Retiring& r) { return r.pid == pid; }),
                      retiring_.end());
    }
  }
  if (upgrade || !owns_segment_) {
    // The segment and the lock files now belong to the new master (or, for a
    // new master stopped before it served, still to the old one).
    log::Line("stopped; the segment ", config_.cache.shm_name, " stays with the ",
              upgrade ? "new" : "old", " master");
    return 0;
  }
  cache_.reset();
  shm_cache::ShmCache::Remove(config_.cache.shm_name);
  const bool removed_dir = RemoveLockFiles(config_.worker.lock_dir, /*and_directory=*/true);
  log::Line("stopped; removed segment ", config_.cache.shm_name,
            removed_dir ? " and lock directory " : "; lock directory left empty (its parent is not ours): ",
            config_.worker.lock_dir);
  return 0;
}

}  // namespace

int Supervise(Supervised setup, const MasterConfig& parsed) {
  Supervisor supervisor(std::move(setup), parsed);
  return supervisor.Run();
}

}  // namespace fc::master
