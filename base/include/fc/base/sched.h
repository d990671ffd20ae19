// Scheduler hints for the calling thread.
#pragma once

namespace fc::sched {

// Asks the scheduler for prompt wake-ups: a short slice (100 us; Linux 6.12+,
// EEVDF's custom slice), so that a wake-up of this thread preempts the task
// running instead of waiting for that task's slice to end at a tick (up to
// several ms on a busy CPU). Meant for threads that sleep almost always and
// must act at once when woken: the master's supervision loop, a standby
// worker waiting for its slot. `prompt` false gives the default slice back.
// The thread's policy and nice stay. `tid`: 0 for the calling thread, or
// another thread of this process. `reset_on_fork`: processes and threads it
// creates start with the defaults (SCHED_FLAG_RESET_ON_FORK). Best effort:
// false where the kernel refuses; an older kernel accepts and ignores it.
bool PromptWakeups(bool prompt, bool reset_on_fork = false, int tid = 0);

}  // namespace fc::sched
