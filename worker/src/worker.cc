// A worker process: attach to the shared cache, start the loader pool and the
// event loops, wait for SIGTERM/SIGINT (sent by the master, or by the kernel
// when the master dies: PR_SET_PDEATHSIG), then drain and exit.
#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "fc/base/checksum.h"
#include "fc/base/status.h"
#include "access_log.h"
#include "event_loop.h"
#include "fc/base/crash_point.h"
#include "fc/base/log.h"
#include "fc/base/sched.h"
#include "fc/worker/worker.h"
#include "file_source.h"
#include "loader.h"

namespace fc::worker {

namespace {

// The cache's name salt for this root (ShmCache::SetNameSalt): its resolved
// path and its directory's device and inode, so that another root, or the
// same path made anew, keys its entries apart.
uint64_t RootSalt(const std::string& root, int root_fd) {
  struct stat st {};
  ::fstat(root_fd, &st);
  const std::string key = root + '\0' + std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino);
  return Checksum64::Of(key.data(), key.size());
}

// Once serving, every thread gets the worker's scheduling: the default slice
// (a standby's main thread waited with a short one, and the loops it made
// since inherited it), then SCHED_BATCH if `batch`.
void SettleScheduling(bool batch) {
  const sched_param param{};
  DIR* tasks = ::opendir("/proc/self/task");
  bool all = tasks != nullptr;
  int err = tasks != nullptr ? 0 : errno;
  while (dirent* task = tasks != nullptr ? ::readdir(tasks) : nullptr) {
    if (task->d_name[0] == '.') continue;
    const int tid = std::atoi(task->d_name);
    sched::PromptWakeups(false, false, tid);
    if (batch && ::sched_setscheduler(tid, SCHED_BATCH, &param) != 0) {
      all = false;
      err = errno;
    }
  }
  if (tasks != nullptr) ::closedir(tasks);
  if (!all) {
    log::Line("cannot use SCHED_BATCH for every thread (", ErrnoText(err),
              "); serving with the default scheduling where it failed");
  }
}

}  // namespace

// A standby: prepared, it waits here for the master to hand it a slot and a
// listening socket (standby.h in master/), or to be told to go. SIGUSR1
// reopens its logs meanwhile. Returns false when it is to exit.
bool AwaitActivation(const WorkerConfig& config, WorkerHandOff* hand_off, const sigset_t& signals,
                     AccessLog* access_log) {
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
  char name[16];  // fc-standby, from the fork (standby.cc); a worker once activated
  // A death is to be replaced at once: the wake-up must not wait for the
  // task running on a busy CPU to use up its slice. Only this thread, and
  // only until it serves (the loader threads are made already; the loops
  // made meanwhile inherit the short slice until SettleScheduling).
  sched::PromptWakeups(true);
  for (;;) {
    pollfd fds[2] = {{hand_off->standby_fd, POLLIN, 0}, {signal_fd.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (fds[1].revents != 0) {
      signalfd_siginfo info;
      if (::read(signal_fd.get(), &info, sizeof(info)) != sizeof(info)) continue;
      if (info.ssi_signo != SIGUSR1) return false;
      if (!config.error_log.empty()) (void)log::RedirectStderr(config.error_log);
      if (access_log != nullptr) (void)access_log->Reopen();
      continue;
    }
    StandbyActivation a{};
    const ssize_t n = ::read(hand_off->standby_fd, &a, sizeof(a));
    if (n != sizeof(a)) return false;  // the master closed the pipe: not needed
    ::close(hand_off->standby_fd);
    hand_off->standby_fd = -1;
    hand_off->slot = a.slot;
    hand_off->listen_fd = a.listen_fd;
    hand_off->tls_listen_fd = a.tls_listen_fd;
    for (int fd : hand_off->standby_listeners) {
      if (fd != a.listen_fd && fd != a.tls_listen_fd) ::close(fd);
    }
    std::snprintf(name, sizeof(name), "fc-master");
    ::prctl(PR_SET_NAME, name);
    return true;
  }
}

int Fail(const std::string& message) {
  log::Line(message);
  return 1;
}

// SIGUSR1: the error log and the access log reopened (logrotate moved them).
void ReopenLogs(const WorkerConfig& config, AccessLog* access_log) {
  if (!config.error_log.empty()) {
    if (Status st = log::RedirectStderr(config.error_log); !st.ok()) {
      log::Line(st.message(), "; still writing to the old error log");
    } else {
      log::Line("SIGUSR1: reopened the error log");
    }
  }
  if (access_log != nullptr) {
    if (Status st = access_log->Reopen(); !st.ok()) {
      log::Line(st.message(), "; still writing to the old file");
    } else {
      log::Line("SIGUSR1: reopened the access log");
    }
  }
}

// The main thread's life while the loops serve: SIGUSR1s reopen the logs,
// until a stop signal, which it returns.
int AwaitStop(const WorkerConfig& config, const sigset_t& stop_signals, AccessLog* access_log) {
  int signal_number = 0;
  for (;;) {
    if (sigwait(&stop_signals, &signal_number) != 0) continue;
    if (signal_number != SIGUSR1) return signal_number;
    ReopenLogs(config, access_log);
  }
}

// Graceful stop: the loops finish their transfers (after the drain notice)
// and the listening socket is let go as soon as no loop watches it, so that a
// new master can bind the port while this one finishes.
void Drain(const WorkerConfig& config, int listen_fd, int tls_listen_fd, std::vector<std::unique_ptr<EventLoop>>& loops,
           std::vector<std::thread>& threads) {
  const int64_t notice_until = MonotonicNowNs() + int64_t{config.drain_notice_ms} * 1'000'000;
  const int64_t deadline = notice_until + int64_t{config.shutdown_timeout_ms} * 1'000'000;
  for (auto& loop : loops) loop->BeginDrain(notice_until, deadline);
  for (int i = 0; i < 1000 + config.drain_notice_ms; ++i) {
    bool all = true;
    for (auto& loop : loops) all = all && loop->drain_started();
    if (all) break;
    ::usleep(1000);
  }
  if (listen_fd >= 0) ::close(listen_fd);
  if (tls_listen_fd >= 0) ::close(tls_listen_fd);
  for (auto& t : threads) t.join();
}

int RunWorker(const WorkerConfig& config, WorkerHandOff hand_off) {  // a standby learns its slot and socket later
  log::SetProgram("fc-worker");
  ::signal(SIGPIPE, SIG_IGN);
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGUSR1);  // reopen the logs
  // Blocked here, so every thread started below inherits the mask and only the
  // main thread's sigwait() sees them.
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  std::string crash_error;
  if (hand_off.arm_crash_points && !crash::ArmFromEnvironment(&crash_error)) return Fail(crash_error);
  auto cache = shm_cache::ShmCache::Open(hand_off.shm_name);
  if (!cache.ok()) return Fail(cache.status().message());
  // A lock holder that is stopped (not dead) must not stop this worker.
  cache.value()->SetLockWait(config.lock_timeout_ms);
  auto files = FileSource::Open(config.root);
  if (!files.ok()) return Fail("cannot open served root: " + files.status().message());
  const std::shared_ptr<const MediaTypes> media_types =
      hand_off.media_types ? hand_off.media_types : LoadMediaTypes(config.mime_types, config.default_type);
  std::unique_ptr<AccessLog> access_log;
  if (config.access_log != "off") {
    auto opened = AccessLog::Open(config.access_log, config.log_format);
    if (!opened.ok()) return Fail(opened.status().message());
    access_log = std::move(opened.value());
  }
  rlimit nofile{};
  ::getrlimit(RLIMIT_NOFILE, &nofile);
  OpenFiles open_files(OpenFiles::Affordable(nofile.rlim_cur, static_cast<size_t>(config.open_files)));
  if (open_files.capacity() < static_cast<size_t>(config.open_files) && hand_off.slot == 0 &&
      hand_off.standby_fd < 0) {  // once per start: the first worker, not a standby
    log::Line("keeping at most ", open_files.capacity(), " files open per worker, not ", config.open_files,
              ": half of what the open-file limit (", nofile.rlim_cur, ") leaves");
  }
  ServeContext context{config,        /*listen_fd=*/-1, *cache.value(), files.value(),
                       open_files,    *media_types,     nullptr};
  context.access_log = access_log.get();
  LoadLocks locks(hand_off.lock_dir, hand_off.lock_salt);
  auto loaders = std::make_unique<LoaderPool>(*cache.value(), locks, config.request_timeout_ms,
                                              config.loaders, config.drop_loaded_pages);
  context.loaders = loaders.get();
  Lister lister(files.value());
  cache.value()->SetNameSalt(RootSalt(config.root, files.value().root_fd()));
  context.lister = &lister;
  // Everything above needs no slot: a standby has it ready before a worker
  // dies, so that its replacement only attaches and starts its loops.
  if (hand_off.standby_fd >= 0 && !AwaitActivation(config, &hand_off, stop_signals, access_log.get())) return 0;
  if (Status attached = cache.value()->AttachWorker(hand_off.slot); !attached.ok()) return Fail(attached.message());
  context.listen_fd = hand_off.listen_fd;
  context.tls_listen_fd = hand_off.tls_listen_fd;
  context.tls = hand_off.tls;
  std::vector<std::unique_ptr<EventLoop>> loops;
  std::vector<std::thread> threads;
  for (int i = 0; i < config.threads; ++i) {
    auto loop = EventLoop::Create(context, static_cast<uint32_t>(i));
    if (!loop.ok()) return Fail("cannot start an event loop: " + loop.status().message());
    loops.push_back(std::move(loop.value()));
  }
  for (auto& loop : loops) threads.emplace_back([&loop] { loop->Run(); });
  cache.value()->MarkServing();
  log::Line("slot ", hand_off.slot, " serving with ", config.threads, " threads");
  // Only once serving, on every thread (fc's and any a sanitizer's runtime
  // started): a replacement started on a saturated machine must not wait for
  // the CPU behind the load it is to take over, as a SCHED_BATCH task does
  // (it never preempts on wake-up).
  SettleScheduling(config.batch_scheduling);

  const int signal_number = AwaitStop(config, stop_signals, access_log.get());
  log::Line(signal_number == SIGTERM ? "SIGTERM" : "SIGINT", ": draining (at most ",
            config.drain_notice_ms + config.shutdown_timeout_ms, " ms)");
  Drain(config, hand_off.listen_fd, hand_off.tls_listen_fd, loops, threads);
  loaders.reset();  // joins the loaders; results still queued die with the loops
  loops.clear();
  access_log.reset();  // writes out the last lines
  log::Line("exiting");
  return 0;
}

}  // namespace fc::worker
