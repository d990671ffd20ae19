// fc-master's start-up: check the served root, bind (or inherit) the
// listening sockets, drop root, create the segment (or, in a binary upgrade,
// attach to the running one), then hand over to the supervisor. The steps
// are in startup.cc; this is their order.
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
#include "fc/base/net.h"
#include "fc/tls/ticket_keys.h"
#include "listeners.h"
#include "metrics_server.h"
#include "privileges.h"
#include "process.h"
#include "startup.h"
#include "supervisor.h"
#include "tls_setup.h"
#include "upgrade.h"

namespace fc::master {
namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "fc-master: %s\n", message.c_str());
  return 1;
}

// HTTPS, as root and before the drop: the TLS listener bound (or inherited),
// the session-ticket keys drawn (or inherited), the key reader started when
// root is to be dropped, and the certificates read and checked.
Status SetUpTls(MasterConfig* config, const UpgradeInheritance& upgrade, Supervised* setup,
                const std::vector<UniqueFd>& listeners) {
  if (config->tls_listen.empty()) {
    for (int fd : upgrade.tls_fds) ::close(fd);
    if (upgrade.keys_fd >= 0) ::close(upgrade.keys_fd);
    return Status::Ok();
  }
  if (!upgrade.tls_fds.empty()) {
    for (int fd : upgrade.tls_fds) setup->tls_listeners.emplace_back(fd);
    LocalAddress(upgrade.tls_fds[0], &config->worker.https_port);
  } else {
    // One socket per worker position, as the plain port (SO_REUSEPORT): the
    // kernel spreads handshakes over the workers, and a draining worker's
    // queue is steered away like the plain one's.
    auto where = net::ParseHostPort(config->tls_listen, "--tls-listen");
    if (!where.ok()) return where.status();
    auto bound = BindListeners(where->host, where->port, static_cast<int>(config->workers), &config->worker.https_port);
    if (!bound.ok()) return Status::Error("--tls-listen " + config->tls_listen + ": " + bound.status().message());
    setup->tls_listeners = std::move(bound.value());
  }
  const int64_t now = static_cast<int64_t>(::time(nullptr));
  auto keys = upgrade.tls_state.empty() ? tls::TicketKeys::Generate(now) : tls::TicketKeys::Parse(upgrade.tls_state);
  if (!keys.ok()) return keys.status();
  tls::SetProcessTicketKeys(keys.value());
  if (upgrade.keys_fd >= 0) {
    setup->key_reader = KeyReader::Adopt(upgrade.keys_fd, config->tls_certs, config->tls_keys);
  } else if (::geteuid() == 0 && config->user != "root") {
    std::vector<int> close_in_reader;
    for (const UniqueFd& fd : setup->tls_listeners) close_in_reader.push_back(fd.get());
    for (const UniqueFd& fd : listeners) close_in_reader.push_back(fd.get());
    if (setup->metrics) setup->metrics->AppendFds(&close_in_reader);
    auto reader = KeyReader::Start(config->tls_certs, config->tls_keys, close_in_reader);
    if (!reader.ok()) return reader.status();
    setup->key_reader = std::move(reader.value());
  }
  // At start the files are read here (as root, or as the user fc runs as
  // when it was not started as root); after an upgrade, by the key reader.
  auto built = LoadServerTls(*config, upgrade.keys_fd >= 0 ? setup->key_reader.get() : nullptr);
  if (!built.ok()) return built.status();
  setup->made.tls = built.value();
  for (size_t i = 0; i < built.value()->size(); ++i) {
    std::string names;
    for (const std::string& n : built.value()->names(i)) names += (names.empty() ? "" : ", ") + n;
    log::Line("TLS certificate ", config->tls_certs[i], i == 0 ? " (default)" : "", ": ", names);
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
  if (Status crash_points = CheckCrashPoints(); !crash_points.ok()) {
    Fail(crash_points.message());
    return 2;
  }
  SelfExecutable();  // remembered now: an upgrade runs the binary at this path
  const UpgradeInheritance upgrade = TakeUpgradeInheritance();
  RaiseDescriptorLimit();
  auto root = ResolveRoot(config.worker.root);
  if (!root.ok()) return Fail(root.status().message());
  config.worker.root = root.value();
  auto listeners = TakeListeners(&config);
  if (!listeners.ok()) return Fail(listeners.status().message());
  // The metrics port too, before the drop (and before anything is created
  // that a failure here would have to undo).
  Supervised setup;
  worker::WorkerHandOff& made = setup.made;
  made.media_types = worker::LoadMediaTypes(config.worker.mime_types, config.worker.default_type);
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
  if (Status tls = SetUpTls(&config, upgrade, &setup, listeners.value()); !tls.ok()) return Fail(tls.message());
  if (config.cache.shm_name.empty()) config.cache.shm_name = "fc-" + std::to_string(config.port);
  NewDirectory new_lock_dir;  // a start that fails from here on leaves no lock directory it made
  if (upgrade.from == 0) {
    if (Status prepared = PrepareForUser(config, &made, &new_lock_dir); !prepared.ok()) return Fail(prepared.message());
  }
  if (Status dropped = DropPrivileges(config.user, config.worker.root); !dropped.ok()) {
    return Fail(dropped.message());
  }
  bool owns_segment = true;
  auto cache = OpenSegment(&config, upgrade, &made, &owns_segment, &new_lock_dir);
  if (!cache.ok()) return Fail(cache.status().message());
  if (config.workers > cache.value()->worker_slots() / 2) {
    log::Line("the cache has ", cache.value()->worker_slots(), " worker slots: running ",
              cache.value()->worker_slots() / 2, " workers (more need a restart)");
    config.workers = cache.value()->worker_slots() / 2;
  }
  if (setup.metrics) log::Line("metrics at http://", setup.metrics->address(), "/metrics");
  LogSegment(config, made, *cache.value());
  setup.config = std::move(config);
  setup.listeners = std::move(listeners.value());
  setup.signals = std::move(signal_fd.value());
  setup.cache = std::move(cache.value());
  setup.upgrade_ready_fd = upgrade.ready_fd;
  if (!setup.tls_listeners.empty()) {
    uint16_t port = 0;
    log::Line("HTTPS on ", LocalAddress(setup.tls_listeners[0].get(), &port));
  }
  setup.owns_segment = owns_segment;
  new_lock_dir.Release();  // the supervisor owns it now
  return Supervise(std::move(setup), parsed);
}

}  // namespace fc::master
