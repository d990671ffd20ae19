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
#include "populate.h"
#include "process.h"
#include "reload_plan.h"
#include "fc/tls/ticket_keys.h"
#include "startup.h"
#include "upgrade.h"
#include "workforce.h"

namespace fc::master {
namespace {

constexpr int64_t kMs = 1'000'000;

// Every log file a reload names must open for this user (the workers' too)
// before anything changes: a worker that cannot open its access log exits
// before serving, and a master that cannot open its error log would lose it.
Status CheckReloadFiles(const worker::WorkerConfig& w) {
  const std::pair<const char*, const std::string*> files[] = {{"access log", &w.access_log},
                                                               {"error log", &w.error_log}};
  for (const auto& [what, path] : files) {
    if (path->empty() || *path == "-" || *path == "off") continue;
    const int fd = ::open(path->c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);
    if (fd < 0) return Status::FromErrno(errno, "open", std::string(what) + " \"" + *path + "\"");
    ::close(fd);
  }
  return Status::Ok();
}

class Supervisor {
 public:
  Supervisor(Supervised s, MasterConfig parsed)
      : config_(std::move(s.config)), parsed_(std::move(parsed)), made_(std::move(s.made)),
        listeners_(std::move(s.listeners)),
        signals_(std::move(s.signals)), cache_(std::move(s.cache)), metrics_(std::move(s.metrics)),
        ready_fd_(s.upgrade_ready_fd), owns_segment_(s.owns_segment),
        tls_listeners_(std::move(s.tls_listeners)), key_reader_(std::move(s.key_reader)),
        workforce_({&config_, &made_, &listeners_, &tls_listeners_, cache_.get(),
                    [this](std::vector<int>* fds) { AppendMasterFds(fds); },
                    [this] { if (metrics_) metrics_->CountRestart(); }}) {}

  int Run();

 private:
  // Workers (workforce.h does the rest).
  void AppendMasterFds(std::vector<int>* fds) const;
  void Reap();
  void AdvanceReload();
  void CheckReady();
  int64_t NextWakeNs() const;

  // Signals.
  void Reload();
  void ReopenLogs();
  void StartUpgrade();
  void ReloadTls();
  void OnUpgradeReadable();
  void UpgradeFailed(const std::string& why);
  int Stop(const char* why);

  MasterConfig config_;
  MasterConfig before_reload_;  // what a reload replaced, kept if its workers fail to start
  MasterConfig parsed_;  // as last parsed (before defaults were resolved): what a reload compares
  worker::WorkerHandOff made_;  // what start-up made for the workers; each fork adds its slot and socket
  std::vector<UniqueFd> listeners_;
  UniqueFd signals_;
  std::unique_ptr<shm_cache::ShmCache> cache_;
  std::unique_ptr<MetricsServer> metrics_;
  int ready_fd_;        // a new master's "I serve" pipe to the old one; -1 once said
  bool owns_segment_;   // false until an upgraded master has taken over
  std::vector<UniqueFd> tls_listeners_;   // --tls-listen, one per position
  std::unique_ptr<KeyReader> key_reader_;  // reads the TLS files again on SIGHUP (as root)
  bool ready_ = false;  // every position served once (READY=1 sent)
  bool reloading_ = false;
  pid_t populate_pid_ = 0;  // fc-populate (populate.h), until it exits
  bool handed_over_ = false;
  bool stop_after_failed_upgrade_ = false;
  UpgradeChild upgrade_;
  Workforce workforce_;
};

// What a forked worker must close of the master's own descriptors.
void Supervisor::AppendMasterFds(std::vector<int>* fds) const {
  fds->push_back(signals_.get());
  if (metrics_) metrics_->AppendFds(fds);
  if (upgrade_.ready.valid()) fds->push_back(upgrade_.ready.get());
  if (ready_fd_ >= 0) fds->push_back(ready_fd_);
  if (key_reader_) fds->push_back(key_reader_->fd());
}

void Supervisor::Reap() {
  for (;;) {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid <= 0) return;
    if (pid == populate_pid_) {
      populate_pid_ = 0;
      continue;
    }
    if (pid == upgrade_.pid) {
      upgrade_.pid = 0;
      UpgradeFailed("the new master (pid " + std::to_string(pid) + ") " + DescribeExit(status));
      continue;
    }
    workforce_.OnExit(pid, status);
  }
}

void Supervisor::AdvanceReload() {
  if (!reloading_ || !workforce_.AdvanceReload()) return;
  reloading_ = false;
  if (const uint32_t failed = workforce_.reload_failures(); failed > 0) {
    // Say what is true, and respawn with what is known to start.
    log::Line("reload: incomplete: ", failed, " of ", workforce_.size(),
              " workers kept the previous configuration (their replacements exited before serving, "
              "above); respawns use the previous configuration; fix the cause and send SIGHUP again");
    config_ = before_reload_;
    made_.media_types = worker::LoadMediaTypes(config_.worker.mime_types, config_.worker.default_type);
    (void)log::RedirectStderr(config_.worker.error_log);
  } else {
    log::Line("reload: done; every worker runs the new configuration (", workforce_.size(), " workers)");
  }
  Notify("READY=1");
}

void Supervisor::CheckReady() {
  if (ready_ || !workforce_.AllServing()) return;
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
  int64_t next = workforce_.NextWakeNs(now);
  if (reloading_ || !ready_) next = std::min(next, now + 20 * kMs);
  if (upgrade_.pid != 0) next = std::min(next, upgrade_.deadline_ns);
  if (metrics_) next = std::min(next, now + 500 * kMs);
  if (!tls_listeners_.empty()) next = std::min(next, now + 60'000 * kMs);
  return next;
}

void Supervisor::ReopenLogs() {
  if (Status st = log::RedirectStderr(config_.worker.error_log); !st.ok()) log::Line("SIGUSR1: ", st.message());
  log::Line("SIGUSR1: reopening the logs");
  workforce_.Signal(SIGUSR1);
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
  auto resolved = ResolveRoot(next.worker.root);
  if (!resolved.ok()) {
    log::Line("SIGHUP: ", resolved.status().message(), "; keeping the running configuration");
    Notify("READY=1");
    return;
  }
  if (Status usable = CheckReloadFiles(next.worker); !usable.ok()) {
    log::Line("SIGHUP: ", usable.message(), "; keeping the running configuration");
    Notify("READY=1");
    return;
  }
  ReloadPlan plan = PlanReload(parsed_, config_, made_, next, resolved.value(), cache_->worker_slots());
  for (const std::string& line : plan.kept) log::Line("SIGHUP: ", line);
  const uint32_t workers = plan.config.workers;
  before_reload_ = config_;
  config_ = std::move(plan.config);
  made_.media_types = worker::LoadMediaTypes(config_.worker.mime_types, config_.worker.default_type);
  if (!config_.tls_listen.empty()) ReloadTls();
  if (Status redirected = log::RedirectStderr(config_.worker.error_log); !redirected.ok()) {
    log::Line("SIGHUP: ", redirected.message());
  }
  log::Line("SIGHUP: configuration read from ", source, "; replacing ", workforce_.size(),
            " workers one at a time (", workers, " after the reload)");
  workforce_.BeginReload(workers);
  reloading_ = true;
  AdvanceReload();
}

// New certificates for the workers the reload starts; established
// connections keep theirs (their workers drain). A bad file keeps the old pair.
void Supervisor::ReloadTls() {
  auto built = LoadServerTls(config_, key_reader_.get());
  if (!built.ok()) {
    log::Line("SIGHUP: TLS: ", built.status().message(), "; keeping the running certificates");
    return;
  }
  made_.tls = built.value();
  log::Line("SIGHUP: TLS: read ", built.value()->size(), " certificate", built.value()->size() == 1 ? "" : "s",
            "; new connections get them once their worker is replaced");
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
  handover.lock_dir = made_.lock_dir;
  handover.lock_salt = made_.lock_salt;
  handover.shm_name = config_.cache.shm_name;
  if (!tls_listeners_.empty()) {
    for (const UniqueFd& fd : tls_listeners_) handover.tls_fds.push_back(fd.get());
    handover.keys_fd = key_reader_ ? key_reader_->fd() : -1;
    handover.tls_state = tls::ProcessTicketKeys(static_cast<int64_t>(::time(nullptr))).Serialize();
  }
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
    // Its process group (upgrade.cc): the new master, its workers, and
    // whatever a wrapper script started and left holding the port.
    ::kill(-upgrade_.pid, SIGKILL);
    ::kill(upgrade_.pid, SIGKILL);  // also alone, should its setpgid have failed
    upgrade_.pid = 0;
  }
  upgrade_.ready.Reset();
  workforce_.ScanStrangersSoon();
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
  workforce_.StartAll();
  populate_pid_ = StartPopulate(config_.cache.shm_name, cache_->packets_offset(), cache_->data_capacity());
  uint16_t port = 0;
  const std::string where = LocalAddress(listeners_[0].get(), &port);
  std::printf("listening on %s:%u\n", config_.host.c_str(), port);
  if (!tls_listeners_.empty()) {
    uint16_t tls_port = 0;
    std::printf("https listening on %s\n", LocalAddress(tls_listeners_[0].get(), &tls_port).c_str());
  }
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
    workforce_.AppendPollFds(&fds);
    const int64_t wait_ms =
        std::max<int64_t>(0, (NextWakeNs() - MonotonicNowNs() + kMs - 1) / kMs);
    const int rc = ::poll(fds.data(), fds.size(), static_cast<int>(wait_ms));
    if (rc > 0) {
      workforce_.OnPoll(fds);
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
                         MetricsSource{cache_.get(), workforce_.size()});
      }
    }
    Reap();
    if (upgrade_.pid != 0 && MonotonicNowNs() >= upgrade_.deadline_ns) {
      UpgradeFailed("the new master did not serve within the deadline");
    }
    if (stop_after_failed_upgrade_) return Stop("failed upgrade");
    workforce_.Tick();
    // The ticket secret steps forward here too, so that the master never
    // keeps a past period's secret for a worker it forks later.
    if (!tls_listeners_.empty()) tls::AdvanceProcessTicketKeys(static_cast<int64_t>(::time(nullptr)));
    AdvanceReload();
    CheckReady();
    if (metrics_) metrics_->Sweep();
  }
}

int Supervisor::Stop(const char* why) {
  const bool upgrade = handed_over_;
  if (!upgrade) Notify("STOPPING=1");
  log::Line(why, ": stopping (transfers get ", config_.worker.shutdown_timeout_ms, " ms to finish)");
  metrics_.reset();
  if (populate_pid_ != 0) ::kill(populate_pid_, SIGKILL);  // reaped below with the workers
  listeners_.clear();  // the master no longer holds the port; workers let go as they drain
  tls_listeners_.clear();
  workforce_.Signal(SIGTERM);
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
  auto kill_all = [this, &forced, upgrade](const char* reason) {
    log::Line(reason);
    workforce_.Signal(SIGKILL);
    // A new master that took over is the service now: never touch it.
    if (upgrade_.pid != 0 && !upgrade) {
      ::kill(-upgrade_.pid, SIGKILL);
      ::kill(upgrade_.pid, SIGKILL);
    }
    forced = true;
  };
  while (workforce_.AnyAlive() || (upgrade_.pid != 0 && !upgrade)) {
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
      workforce_.OnStopped(pid);
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
  const bool removed_dir = RemoveLockFiles(made_.lock_dir, /*and_directory=*/true);
  log::Line("stopped; removed segment ", config_.cache.shm_name,
            removed_dir ? " and lock directory " : "; lock directory left empty (its parent is not ours): ",
            made_.lock_dir);
  return 0;
}

}  // namespace

int Supervise(Supervised setup, const MasterConfig& parsed) {
  Supervisor supervisor(std::move(setup), parsed);
  return supervisor.Run();
}

}  // namespace fc::master
