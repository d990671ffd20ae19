// The master's worker processes; see workforce.h.
#include "workforce.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "fc/base/clock.h"
#include "fc/base/log.h"
#include "listeners.h"
#include "process.h"

namespace fc::master {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kQuickDeathNs = 1000 * kMs;  // died sooner than this: maybe a crash loop
constexpr int64_t kBackoffBaseNs = 100 * kMs;
constexpr int64_t kBackoffMaxNs = 10'000 * kMs;
constexpr int kReclaimTimeoutMs = 100;

}  // namespace

Workforce::Workforce(Context context) : ctx_(std::move(context)), positions_(ctx_.config->workers) {}

void Workforce::StartAll() {
  for (uint32_t i = 0; i < positions_.size(); ++i) Spawn(i, /*initial=*/true);
  StartStandby();
}

void Workforce::Tick() {
  RespawnDue();
  RetryReclaims();
  ReclaimStrangers();
}

void Workforce::AppendPollFds(std::vector<pollfd>* fds) {
  WatchServingWorkers();
  death_watch_.AppendPollFds(fds);
}

void Workforce::OnPoll(const std::vector<pollfd>& fds) {
  for (pid_t pid : death_watch_.Exited(fds)) OnThreadExit(pid);
}

int64_t Workforce::NextWakeNs(int64_t now) const {
  int64_t next = now + 1000 * kMs;
  for (const Position& p : positions_) {
    if (p.state() == Position::State::kRespawnDue) next = std::min(next, p.respawn_at_ns);
    // A worker not watched yet (DeathWatch) is looked at again soon: it
    // serves within milliseconds of its start.
    if (p.pid != 0 && death_watch_.supported() && !death_watch_.watching(p.pid)) next = std::min(next, now + 20 * kMs);
  }
  if (!reclaims_.empty()) next = std::min(next, now + 20 * kMs);
  if (standby_due_ns_ != 0) next = std::min(next, standby_due_ns_);
  return next;
}

bool Workforce::AllServing() const {
  for (const Position& p : positions_) {
    if (p.pid == 0 || !Serving(p.pid, p.slot)) return false;
  }
  return true;
}

void Workforce::BeginReload(uint32_t workers) {
  // The standby runs the old configuration: another one, with the new.
  standby_.Dismiss();
  standby_due_ns_ = MonotonicNowNs() + 50 * kMs;
  reload_failures_ = 0;
  for (Position& p : positions_) {
    if (p.state() == Position::State::kReplacing) {
      p.replace_again = true;  // its replacement runs the configuration before this one
    } else {
      p.replace = true;
    }
  }
  ApplyPositions(workers);
}

uint32_t Workforce::FreeSlot() const {
  const std::vector<shm_cache::WorkerInfo> workers = ctx_.cache->PeekWorkers();
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
std::vector<int> Workforce::FdsWorkersClose(int keep_listener, int keep_tls) const {
  std::vector<int> others;
  ctx_.master_fds(&others);
  if (keep_listener >= 0) {
    for (const UniqueFd& fd : (*ctx_.listeners)) {
      if (fd.get() != keep_listener) others.push_back(fd.get());
    }
    for (const UniqueFd& fd : (*ctx_.tls_listeners)) {
      if (fd.get() != keep_tls) others.push_back(fd.get());
    }
  }
  if (standby_.activate_fd() >= 0) others.push_back(standby_.activate_fd());
  return others;
}

void Workforce::StartStandby() {
  standby_due_ns_ = 0;
  std::vector<int> listeners;
  for (const UniqueFd& fd : (*ctx_.listeners)) listeners.push_back(fd.get());
  for (const UniqueFd& fd : (*ctx_.tls_listeners)) listeners.push_back(fd.get());
  if (!standby_.Start(ctx_.config->worker, *ctx_.made, listeners, FdsWorkersClose(-1))) {
    standby_due_ns_ = MonotonicNowNs() + 1000 * kMs;
  }
}

pid_t Workforce::StartWorker(uint32_t position, uint32_t slot, bool initial) {
  const int listener = (*ctx_.listeners)[position % (*ctx_.listeners).size()].get();
  const std::vector<UniqueFd>& tls = *ctx_.tls_listeners;
  const int tls_listener = tls.empty() ? -1 : tls[position % tls.size()].get();
  if (!initial && standby_.ready()) {
    // A replacement: the standby, prepared already, takes the slot at once.
    const pid_t pid = standby_.Activate(slot, listener, tls_listener);
    // The next one a little later: the replacement starts on the CPUs first.
    standby_due_ns_ = MonotonicNowNs() + 50 * kMs;
    if (pid != 0) return pid;
  }
  const worker::WorkerConfig& wc = ctx_.config->worker;
  worker::WorkerHandOff hand_off = *ctx_.made;
  // Crash points arm only position 0's first worker, so a test gets one crash
  // and then watches the recovery (replacements run clean).
  hand_off.arm_crash_points = initial && position == 0;
  hand_off.slot = slot;
  hand_off.listen_fd = listener;
  hand_off.tls_listen_fd = tls_listener;
  auto pid = SpawnChild(FdsWorkersClose(listener, tls_listener), [&wc, &hand_off] { return worker::RunWorker(wc, hand_off); });
  if (!pid.ok()) {
    log::Line(pid.status().message(), "; retrying");
    return 0;
  }
  return pid.value();
}

void Workforce::Spawn(uint32_t index, bool initial) {
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

bool Workforce::Serving(pid_t pid, uint32_t slot) const {
  const std::vector<shm_cache::WorkerInfo> workers = ctx_.cache->PeekWorkers();
  return slot < workers.size() && workers[slot].pid == pid && workers[slot].serving;
}

void Workforce::QueueReclaim(uint32_t slot, pid_t pid) {
  if (slot == kNoSlot) return;
  const auto workers = ctx_.cache->PeekWorkers();  // lock-free read
  reclaims_.push_back({slot, pid, slot < workers.size() ? workers[slot].epoch : 0});
}

void Workforce::OnPositionDeath(Position& p, int status) {
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
  ctx_.count_restart();
  QueueReclaim(p.slot, p.pid);
  p.pid = 0;
  p.slot = kNoSlot;
  p.respawn_at_ns = now + delay;
}

bool Workforce::OnExit(pid_t pid, int status) {
  if (standby_.OnExit(pid)) {
    // A standby that died by itself is forked again, but not hot.
    if (!standby_.ready() && standby_due_ns_ == 0) standby_due_ns_ = MonotonicNowNs() + 1000 * kMs;
    return true;
  }
  bool ours = false;
  for (uint32_t i = 0; i < positions_.size(); ++i) {
    Position& p = positions_[i];
    if (p.pid == pid) {
      OnPositionDeath(p, status);
      ours = true;
    }
    if (p.next_pid == pid) {
      log::Line("reload: the new worker for position ", i, " (pid ", pid, ") ", DescribeExit(status),
                " before serving; the old one keeps serving");
      QueueReclaim(p.next_slot, pid);
      p.next_pid = 0;
      p.next_slot = kNoSlot;
      p.replace = p.replace_again = false;
      ++reload_failures_;
      ours = true;
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
    return true;
  }
  return ours;
}

void Workforce::OnStopped(pid_t pid) {
  standby_.OnExit(pid);
  for (Position& p : positions_) {
    if (p.pid == pid) p.pid = 0;
    if (p.next_pid == pid) p.next_pid = 0;
  }
  retiring_.erase(std::remove_if(retiring_.begin(), retiring_.end(),
                                 [pid](const Retiring& r) { return r.pid == pid; }),
                  retiring_.end());
}

// Watches the threads of every worker that serves (DeathWatch), and none other.
void Workforce::WatchServingWorkers() {
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
void Workforce::OnThreadExit(pid_t pid) {
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
    ctx_.count_restart();
    retiring_.push_back({pid, p.slot, /*dying=*/true, p.started_ns});
    p.pid = 0;
    p.slot = kNoSlot;
    p.quick_deaths = 0;
    Spawn(i);
    return;
  }
}

void Workforce::RetryReclaims() {
  for (size_t i = 0; i < reclaims_.size();) {
    const Reclaim& r = reclaims_[i];
    Status st = ctx_.cache->ReclaimWorker(r.slot, r.pid, r.epoch, kReclaimTimeoutMs);
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
void Workforce::ReclaimStrangers() {
  const int64_t now = MonotonicNowNs();
  if (now - last_stranger_scan_ns_ < 1000 * kMs) return;
  last_stranger_scan_ns_ = now;
  const auto workers = ctx_.cache->PeekWorkers();
  for (uint32_t s = 0; s < workers.size(); ++s) {
    const pid_t pid = workers[s].pid;
    if (pid == 0 || ::kill(pid, 0) == 0 || errno != ESRCH) continue;
    bool known = false;
    for (const Reclaim& r : reclaims_) known = known || r.slot == s;
    if (!known) reclaims_.push_back({s, pid, workers[s].epoch});
  }
}

void Workforce::RespawnDue() {
  const int64_t now = MonotonicNowNs();
  for (uint32_t i = 0; i < positions_.size(); ++i) {
    Position& p = positions_[i];
    // Respawn comes first (Run calls this before RetryReclaims): the replacement
    // reclaims its slot's leftovers itself when it attaches, and the master's
    // own reclaim, keyed by (pid, epoch), then finds nothing to do.
    if (p.state() == Position::State::kRespawnDue && p.respawn_at_ns <= now) Spawn(i);
  }
  if (!standby_.ready() && standby_due_ns_ != 0 && standby_due_ns_ <= now) StartStandby();
}

// A reload replaces one worker at a time: start the new one in a free slot,
// and once it serves, ask the old one to drain (it finishes its transfers and
// exits on its own; the listening socket stays open in the master throughout).
bool Workforce::AdvanceReload() {
  for (uint32_t i = 0; i < positions_.size(); ++i) {
    Position& p = positions_[i];
    if (p.state() == Position::State::kReplacing) {
      if (!Serving(p.next_pid, p.next_slot)) return false;  // wait for it
      if (p.pid != 0) {
        ::kill(p.pid, SIGTERM);
        retiring_.push_back({p.pid, p.slot});
      }
      p.pid = p.next_pid;
      p.slot = p.next_slot;
      p.started_ns = MonotonicNowNs();
      p.next_pid = 0;
      p.next_slot = kNoSlot;
      p.replace = p.replace_again;
      p.replace_again = false;
      if (!p.replace) continue;
      // A newer reload is waiting: replace what just took over, below.
    }
    if (!p.replace) continue;
    if (p.state() != Position::State::kServing) {  // dead and waiting: its respawn brings the new configuration
      p.replace = false;
      continue;
    }
    const uint32_t slot = FreeSlot();
    const pid_t pid = slot == kNoSlot ? 0 : StartWorker(i, slot, false);
    if (pid == 0) return false;  // no slot free yet (a drained worker will free one): try again
    p.next_pid = pid;
    p.next_slot = slot;
    return false;
  }
  return true;
}

void Workforce::Signal(int signal_number) {
  for (const Position& p : positions_) {
    if (p.pid != 0) ::kill(p.pid, signal_number);
    if (p.next_pid != 0) ::kill(p.next_pid, signal_number);
  }
  for (const Retiring& r : retiring_) ::kill(r.pid, signal_number);
  if (standby_.ready()) ::kill(standby_.pid(), signal_number);  // USR1: it reopens its logs too
  for (pid_t pid : standby_.exiting()) ::kill(pid, signal_number);
}

bool Workforce::AnyAlive() const {
  for (const Position& p : positions_) {
    if (p.pid != 0 || p.next_pid != 0) return true;
  }
  return !retiring_.empty() || standby_.ready() || !standby_.exiting().empty();
}

// Grows or shrinks the set of positions to `count` (a reload changed --workers).
void Workforce::ApplyPositions(uint32_t count) {
  const uint32_t before = static_cast<uint32_t>(positions_.size());
  if (count < before) {
    // Steer new connections away from the retiring positions' sockets first,
    // so that none is left queued on a socket nobody accepts from. The sockets
    // stay open (and out of the steering) for a later reload that adds workers.
    for (std::vector<UniqueFd>* set : {ctx_.listeners, ctx_.tls_listeners}) {
      if (set->size() <= count) continue;
      if (Status st = SteerListeners((*set)[0].get(), count, static_cast<uint32_t>(set->size())); !st.ok()) {
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
  for (std::vector<UniqueFd>* set : {ctx_.listeners, ctx_.tls_listeners}) {
    if (set->empty()) continue;
    while (set->size() < count) {
      auto joined = JoinListeners((*set)[0].get());
      if (!joined.ok()) {
        // A port below 1024 once root is gone, or one inherited socket from
        // systemd: the new workers share sockets instead.
        log::Line("reload: ", joined.status().message(), "; new workers share listening sockets");
        break;
      }
      set->push_back(std::move(joined.value()));
    }
    const uint32_t active = std::min<uint32_t>(count, static_cast<uint32_t>(set->size()));
    if (Status st = SteerListeners((*set)[0].get(), active, static_cast<uint32_t>(set->size())); !st.ok()) {
      log::Line("reload: ", st.message());
    }
  }
  positions_.resize(count);
  for (uint32_t i = before; i < count; ++i) Spawn(i);
}

}  // namespace fc::master
