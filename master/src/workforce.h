// Internal header: the master's worker processes. One worker per position
// (each position has a listening socket), a standby forked ahead of need, the
// workers retiring (a reload drains them) or dying (a thread of theirs
// exited: replaced already, not reaped yet), and the cache slots the dead
// leave to reclaim. Workers and positions are apart from cache slots: a
// replacement takes a free slot while the worker it replaces drains or dies
// in its own.
//
// Policy lives here: a dead worker is replaced at once (at its first
// thread's exit, death_watch.h, or at its reap), a crash loop backs off
// exponentially, a reload replaces the workers one at a time. The mechanism
// is in process.h (fork), standby.h and death_watch.h. The supervisor owns the
// loop, the signals and the sockets, and reaps: it hands each exit here.
#pragma once

#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "death_watch.h"
#include "fc/base/unique_fd.h"
#include "fc/master/master.h"
#include "fc/shm_cache/cache.h"
#include "standby.h"

namespace fc::master {

class Workforce {
 public:
  // What the workforce needs of its owner. `config`, `made` and `listeners`
  // are the supervisor's, read at each fork (a reload changes them).
  struct Context {
    const MasterConfig* config;
    const worker::WorkerHandOff* made;  // what start-up made; a fork adds the slot and socket
    std::vector<UniqueFd>* listeners;
    std::vector<UniqueFd>* tls_listeners;  // --tls-listen: one per position too (empty: no TLS)
    shm_cache::ShmCache* cache;
    // Appends the master's own descriptors, which a forked worker closes.
    std::function<void(std::vector<int>*)> master_fds;
    std::function<void()> count_restart;  // a worker died and was replaced
  };
  explicit Workforce(Context context);

  // The first workers and the standby.
  void StartAll();
  // A child of the master exited: false if it was none of the workforce's.
  bool OnExit(pid_t pid, int status);
  // While stopping: forgets an exited child, no respawn.
  void OnStopped(pid_t pid);
  // Due respawns and standby, slot reclaims (call once per loop turn).
  void Tick();
  // The thread pidfds of the serving workers (death_watch.h), and what a
  // poll of them said.
  void AppendPollFds(std::vector<pollfd>* fds);
  void OnPoll(const std::vector<pollfd>& fds);
  // The earliest moment the workforce has something to do.
  int64_t NextWakeNs(int64_t now) const;

  // Every position's worker serves.
  bool AllServing() const;
  bool AnyAlive() const;
  void Signal(int signal_number);
  uint32_t size() const { return static_cast<uint32_t>(positions_.size()); }

  // Reload: replace every worker, one at a time, with `workers` positions
  // afterwards. AdvanceReload moves it on; true once every worker runs the
  // new configuration.
  void BeginReload(uint32_t workers);
  bool AdvanceReload();
  // Replacements of the reload under way that exited before serving (their
  // positions kept the old worker); read once the reload is done.
  uint32_t reload_failures() const { return reload_failures_; }
  // After a failed upgrade: look for slots of dead strangers now.
  void ScanStrangersSoon() { last_stranger_scan_ns_ = 0; }

 private:
  // A position: one listening socket and the worker serving it.
  struct Position {
    pid_t pid = 0;
    uint32_t slot = kNoSlot;
    int64_t started_ns = 0;
    int quick_deaths = 0;
    int64_t respawn_at_ns = 0;  // 0: not waiting
    bool replace = false;       // a reload asked for a worker with the new configuration
    pid_t next_pid = 0;         // that replacement, until it serves
    // A newer reload came while that replacement (of the older configuration)
    // was starting: once it serves, it is replaced in turn.
    bool replace_again = false;
    uint32_t next_slot = kNoSlot;

    // What the position is doing, named from the fields above (they stay the
    // one truth: a state stored beside them could disagree).
    enum class State {
      kEmpty,       // no worker, none due (never started, or stopping)
      kRespawnDue,  // its worker died: a new one starts at respawn_at_ns
      kServing,     // one worker (with `replace`, a reload wants a new one)
      kReplacing,   // a reload's replacement (next_pid) starts beside it
    };
    State state() const {
      if (next_pid != 0) return State::kReplacing;
      if (pid != 0) return State::kServing;
      return respawn_at_ns != 0 ? State::kRespawnDue : State::kEmpty;
    }
  };
  // A worker that was asked to drain (reload, fewer workers), or one replaced
  // already because a thread of it exited (`dying`), not reaped yet.
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
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  uint32_t FreeSlot() const;
  pid_t StartWorker(uint32_t position, uint32_t slot, bool initial);
  std::vector<int> FdsWorkersClose(int keep_listener, int keep_tls = -1) const;
  void StartStandby();
  void Spawn(uint32_t position, bool initial = false);
  void OnPositionDeath(Position& p, int status);
  void WatchServingWorkers();
  void OnThreadExit(pid_t pid);
  void QueueReclaim(uint32_t slot, pid_t pid);
  void RetryReclaims();
  void ReclaimStrangers();
  void RespawnDue();
  bool Serving(pid_t pid, uint32_t slot) const;
  void ApplyPositions(uint32_t count);

  Context ctx_;
  std::vector<Position> positions_;
  uint32_t reload_failures_ = 0;
  std::vector<Retiring> retiring_;
  std::vector<Reclaim> reclaims_;
  Standby standby_;
  DeathWatch death_watch_;
  int64_t standby_due_ns_ = 0;  // when to fork the next standby (0: none due)
  int64_t last_stranger_scan_ns_ = 0;
};

}  // namespace fc::master
