// fc-master's command line: the option form and the short form
// `fc-master HOST PORT DIR`.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <boost/program_options.hpp>

#include "fc/master/master.h"
#include "fc/base/cli.h"
#include "fc/base/net.h"
#include "fc/protocol/wire.h"
#include "memory_budget.h"
#include "reload_plan.h"
#include "tls_options.h"
#include "web_options.h"

namespace po = boost::program_options;

namespace fc::master {

namespace {

// The upload token: from --upload-token-file, FC_UPLOAD_TOKEN or (with a
// warning: /proc/PID/cmdline is world-readable) --upload-token. Fails on
// more than one source, an unreadable or empty file, or a token over 256 bytes.
Status ResolveUploadToken(bool from_argv, const std::string& file, std::string* token,
                          std::string* warning) {
  const char* env = std::getenv("FC_UPLOAD_TOKEN");
  const int sources = int{from_argv} + int{!file.empty()} + int{env != nullptr && *env != '\0'};
  if (sources > 1) {
    return Status::Error("give the upload token one way: --upload-token, --upload-token-file or "
                         "FC_UPLOAD_TOKEN");
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Status::FromErrno(errno, "read", "--upload-token-file \"" + file + "\"");
    std::getline(in, *token);
    while (!token->empty() && (token->back() == '\r' || token->back() == ' ')) token->pop_back();
    if (token->empty()) return Status::Error("--upload-token-file \"" + file + "\" is empty");
  } else if (env != nullptr && *env != '\0') {
    *token = env;
  } else if (from_argv) {
    *warning = "warning: --upload-token on the command line is visible to every local user "
               "(/proc/PID/cmdline); use --upload-token-file or FC_UPLOAD_TOKEN";
  }
  if (token->size() > protocol::kMaxTokenLength) {
    return Status::Error("the upload token is longer than 256 bytes");
  }
  return Status::Ok();
}

}  // namespace

namespace {

// Everything but the option table: checks the values and fills *config.
struct Raw {
  std::string root, host, port, cache_size = "64M", packet_size = "1K", policy = "fc";
  uint32_t workers = 4;
  int threads, loaders, idle_s, write_s, request_s, max_connections, max_queued, lock_timeout_ms;
  int shutdown_s, drain_notice_s, upgrade_timeout_s = 30, revalidate_ms, open_files;
  std::string scheduling, page_cache;
  std::string max_upload = "1G", token_file, min_rate = "4K", list = "on";
  std::string list_from = "127.0.0.0/8,::1";
  std::string access_log = "-", log_format = "combined", error_log, metrics_listen;
  bool quiet = false, allow_upload = false;
  std::string config_file;
  WebRaw web;
  TlsRaw tls;
};

Status Error(const std::string& message) { return Status::Error(message); }

// The short form (HOST PORT DIR) into `r`, the root, the port.
Status CheckWhere(const po::variables_map& vm, Raw& r, MasterConfig* config) {
  if (vm.count("positional")) {
    const auto& args = vm["positional"].as<std::vector<std::string>>();
    if (args.size() != 3) return Error("the short form is: fc-master HOST PORT DIR");
    if (!r.root.empty()) return Error("give the directory either as --root or positionally");
    r.host = args[0];
    r.port = args[1];
    r.root = args[2];
  }
  if (r.root.empty()) return Error("missing --root DIR (the directory to serve)");
  auto parsed_port = net::ParsePort(r.port);
  if (!parsed_port.ok()) return parsed_port.status();
  config->host = r.host;
  config->port = parsed_port.value();
  config->worker.root = r.root;
  return Status::Ok();
}

// --cache-size (or auto), --packet-size, --policy.
Status CheckCache(const Raw& r, MasterConfig* config) {
  Result<uint64_t> size = uint64_t{0};
  config->cache_size_auto.clear();
  if (r.cache_size == "auto") {
    auto resolved = ResolveAutoCacheSize();
    if (!resolved.ok()) return resolved.status();
    size = resolved.value().bytes;
    config->cache_size_auto = resolved.value().how;
  } else {
    size = net::ParseByteSize(r.cache_size, "--cache-size");
  }
  if (!size.ok()) return size.status();
  auto packet = net::ParseByteSize(r.packet_size, "--packet-size");
  if (!packet.ok()) return packet.status();
  if (packet.value() < 64 || packet.value() > (1u << 20)) return Error("--packet-size must be between 64 and 1M");
  if (size.value() < (1u << 20)) return Error("--cache-size must be at least 1M");
  auto parsed_policy = shm_cache::ParsePolicy(r.policy);
  if (!parsed_policy.ok()) return parsed_policy.status();
  config->cache.segment_size = size.value();
  config->cache.packet_size = static_cast<uint32_t>(packet.value());
  config->cache.policy = parsed_policy.value();
  return Status::Ok();
}

// The counts and policies, each in its range.
Status CheckLimits(const Raw& r) {
  if (r.workers < 1 || r.workers > kMaxWorkers) {
    return Error("--workers must be between 1 and " + std::to_string(kMaxWorkers));
  }
  if (r.threads < 1 || r.threads > 64) return Error("--threads must be between 1 and 64");
  if (r.loaders < 1 || r.loaders > 64) return Error("--loaders must be between 1 and 64");
  if (r.open_files < 0 || r.open_files > 1'048'576) return Error("--open-files must be between 0 and 1048576");
  if (r.scheduling != "batch" && r.scheduling != "normal") {
    return Error("--scheduling takes batch or normal, not \"" + r.scheduling + "\"");
  }
  if (r.page_cache != "drop" && r.page_cache != "keep" && r.page_cache != "auto") {
    return Error("--page-cache takes auto, drop or keep, not \"" + r.page_cache + "\"");
  }
  return Status::Ok();
}

// The times, the health path and the connection limits, each in its range.
Status CheckTimes(const Raw& r, const MasterConfig& config) {
  if (r.revalidate_ms < 0 || r.revalidate_ms > 3'600'000) {
    return Error("--revalidate-after must be between 0 and 3600000 ms");
  }
  if (r.drain_notice_s < 0 || r.drain_notice_s > 3600) return Error("--drain-notice must be between 0 and 3600 seconds");
  const std::string& health = config.worker.health_path;
  if (!health.empty() &&
      (health.size() < 2 || health[0] != '/' || health.find_first_of(" \t\r\n?#") != std::string::npos)) {
    return Error("--health-path must be an absolute path such as /.fc/health (or empty for none)");
  }
  if (r.idle_s < 1 || r.shutdown_s < 0 || r.write_s < 1 || r.request_s < 1 || r.upgrade_timeout_s < 1) {
    return Error("timeouts must be positive");
  }
  if (r.max_connections < 1 || r.max_queued < 1) return Error("--max-connections and --max-queued must be at least 1");
  if (r.list != "on" && r.list != "off") return Error("--list takes on or off");
  if (auto list_from = net::ParseAddressRanges(r.list_from, "--list-from"); !list_from.ok()) {
    return list_from.status();
  }
  if (r.lock_timeout_ms < 1 || r.lock_timeout_ms > 10'000) return Error("--lock-timeout must be between 1 and 10000 ms");
  return Status::Ok();
}

// Uploads (limits, token), the logs, the metrics address.
Status CheckUploadsAndLogs(const po::variables_map& vm, const Raw& r, MasterConfig* config, std::string* warning) {
  auto upload_limit = net::ParseByteSize(r.max_upload, "--max-upload");
  if (!upload_limit.ok()) return upload_limit.status();
  auto rate = net::ParseByteSize(r.min_rate, "--upload-min-rate");
  if (!rate.ok()) return rate.status();
  auto format = worker::ParseLogFormat(r.log_format);
  if (!format.ok()) return format.status();
  if (r.access_log.empty()) return Error("--access-log takes a path, - (stderr) or off");
  if (r.quiet && vm.count("access-log") && !vm["access-log"].defaulted() && r.access_log != "off") {
    return Error("--quiet turns the access log off, but --access-log asks for \"" + r.access_log +
                 "\": give one of them");
  }
  if (!r.metrics_listen.empty()) {
    auto where = net::ParseHostPort(r.metrics_listen, "--metrics-listen");
    if (!where.ok()) return where.status();
  }
  if (Status token = ResolveUploadToken(vm.count("upload-token") > 0, r.token_file, &config->worker.upload_token,
                                        warning);
      !token.ok()) {
    return token;
  }
  config->worker.allow_upload = r.allow_upload;
  config->worker.max_upload = upload_limit.value();
  config->worker.upload_min_rate = rate.value();
  config->worker.access_log = r.quiet ? "off" : r.access_log;
  config->worker.log_format = format.value();
  config->worker.error_log = r.error_log;
  config->metrics_listen = r.metrics_listen;
  return Status::Ok();
}

// The checked counts and times into the configuration.
void ApplyLimits(const Raw& r, MasterConfig* config) {
  config->workers = r.workers;
  config->cache.worker_slots = SlotsFor(r.workers);
  worker::WorkerConfig& w = config->worker;
  w.threads = r.threads;
  w.loaders = r.loaders;
  w.batch_scheduling = r.scheduling == "batch";
  w.revalidate_ms = r.revalidate_ms;
  w.open_files = r.open_files;
  // auto: drop where the page cache is charged to the same budget as the
  // segment (a cgroup memory limit); keep where memory is the machine's, since
  // an evicted file then comes back from memory (docs/performance.md).
  w.drop_loaded_pages = r.page_cache == "drop" || (r.page_cache == "auto" && CgroupMemoryLimit() != 0);
  w.idle_timeout_ms = r.idle_s * 1000;
  w.write_timeout_ms = r.write_s * 1000;
  w.request_timeout_ms = r.request_s * 1000;
  w.max_connections = r.max_connections;
  w.max_queued = r.max_queued;
  w.lock_timeout_ms = r.lock_timeout_ms;
  w.allow_list = r.list == "on";
  w.list_from = net::ParseAddressRanges(r.list_from, "--list-from").value();  // checked in CheckTimes
  w.shutdown_timeout_ms = r.shutdown_s * 1000;
  w.drain_notice_ms = r.drain_notice_s * 1000;
  config->upgrade_timeout_ms = r.upgrade_timeout_s * 1000;
}

// Every option checked, in the order a user reads them, and stored.
Status Check(const po::variables_map& vm, Raw& r, MasterConfig* config, std::string* warning) {
  if (Status where = CheckWhere(vm, r, config); !where.ok()) return where;
  if (Status cache = CheckCache(r, config); !cache.ok()) return cache;
  if (Status limits = CheckLimits(r); !limits.ok()) return limits;
  if (Status times = CheckTimes(r, *config); !times.ok()) return times;
  if (Status io = CheckUploadsAndLogs(vm, r, config, warning); !io.ok()) return io;
  if (Status web = CheckWebOptions(r.web, &config->worker); !web.ok()) return web;
  if (Status tls = CheckTlsOptions(r.tls, config); !tls.ok()) return tls;
  ApplyLimits(r, config);
  config->config_file = r.config_file;
  return Status::Ok();
}

}  // namespace

uint32_t SlotsFor(uint32_t workers) {
  return std::min<uint32_t>(shm_cache::kMaxWorkerSlots, 2 * std::max<uint32_t>(workers, 8));
}

// The options as typed, starting from MasterConfig's defaults.
Raw RawDefaults(const MasterConfig& defaults) {
  Raw r;
  r.host = defaults.host;
  r.port = std::to_string(defaults.port);
  r.workers = defaults.workers;
  const worker::WorkerConfig& w = defaults.worker;
  r.threads = w.threads;
  r.loaders = w.loaders;
  r.scheduling = w.batch_scheduling ? "batch" : "normal";
  r.revalidate_ms = w.revalidate_ms;
  r.open_files = w.open_files;
  r.page_cache = "auto";
  r.idle_s = w.idle_timeout_ms / 1000;
  r.write_s = w.write_timeout_ms / 1000;
  r.request_s = w.request_timeout_ms / 1000;
  r.max_connections = w.max_connections;
  r.max_queued = w.max_queued;
  r.lock_timeout_ms = w.lock_timeout_ms;
  r.shutdown_s = w.shutdown_timeout_ms / 1000;
  r.drain_notice_s = w.drain_notice_ms / 1000;
  r.upgrade_timeout_s = defaults.upgrade_timeout_ms / 1000;
  return r;
}

// " (default X)" for a help text, X as the defaults say.
template <typename T>
std::string Default(const T& value) {
  std::ostringstream out;
  out << " (default " << value << ")";
  return out.str();
}

// The option table: each option reads into *rp (checked by Check) or straight
// into *config; every default in the help comes from *rp as RawDefaults made
// it or from *config's defaults.
void AddOptions(Raw* rp, MasterConfig* config, po::options_description* visible) {  // code_metrics: table
  Raw& r = *rp;
  const worker::WorkerConfig& w = config->worker;
  visible->add_options()
      ("help,h", "print this help and exit")
      ("config", po::value(&r.config_file)->value_name("FILE"),
       "read settings from FILE: one \"key = value\" per line, the keys being the long option "
       "names below; options on the command line win; SIGHUP reads it again")
      ("root", po::value(&r.root)->value_name("DIR"), "directory to serve (required)")
      ("host", po::value(&r.host)->value_name("ADDR"), ("address to listen on" + Default(r.host)).c_str())
      ("port", po::value(&r.port)->value_name("N"), ("TCP port; 0 picks a free one" + Default(r.port)).c_str())
      ("workers", po::value(&r.workers)->value_name("N"), ("worker processes, at most " + std::to_string(kMaxWorkers) + Default(r.workers)).c_str())
      ("threads", po::value(&r.threads)->value_name("N"), ("event-loop threads per worker" + Default(r.threads)).c_str())
      ("loaders", po::value(&r.loaders)->value_name("N"), ("disk loader threads per worker" + Default(r.loaders)).c_str())
      ("scheduling", po::value(&r.scheduling)->value_name("batch|normal"),
       ("CPU scheduling of the workers: batch (SCHED_BATCH: a worker woken by a request does "
       "not preempt the running task, so it wakes less often and does more per wake-up; the "
       "most throughput per CPU) or normal (SCHED_OTHER: lower tail latency when the CPUs are "
       "saturated by other work)" + Default(r.scheduling)).c_str())
      ("revalidate-after", po::value(&r.revalidate_ms)->value_name("MS"),
       ("trust a file's stat this long: no statx per request for a file checked less than MS "
       "ago, and a file changed on disk may be served in its old version that long (nginx's "
       "open_file_cache_valid; 0: every request checks)" + Default(r.revalidate_ms)).c_str())
      ("open-files", po::value(&r.open_files)->value_name("N"),
       ("descriptors each worker keeps open between misses of a file (nginx's open_file_cache "
       "max): a miss of a kept file whose statx still matches skips the open; closed after 60 s "
       "unused; at most half of what the open-file limit leaves; 0: none" + Default(r.open_files)).c_str())
      ("page-cache", po::value(&r.page_cache)->value_name("auto|drop|keep"),
       "once a file is loaded into the cache, drop its pages from the kernel's page cache "
       "(drop: memory holds it once, which pays under a memory limit) or keep them (a "
       "re-load after eviction then reads memory, not disk); auto (default): drop under a "
       "cgroup memory limit, else keep")
      ("cache-size", po::value(&r.cache_size)->value_name("SIZE"),
       "shared segment size, metadata included, or auto: the cgroup's memory limit minus "
       "max(64M, a quarter) of headroom (without a limit, a quarter of the machine's memory); "
       "default 64M")
      ("packet-size", po::value(&r.packet_size)->value_name("SIZE"),
       ("cache packet size, 64 bytes to 1M" + Default(r.packet_size)).c_str())
      ("policy", po::value(&r.policy)->value_name("NAME"),
       "eviction policy: fc (default), lru, fifo, sieve, s3fifo")
      ("shm-name", po::value(&config->cache.shm_name)->value_name("NAME"),
       "segment name (default fc-<port>)")
      ("lock-dir", po::value(&config->lock_dir)->value_name("DIR"),
       "private directory for the pool of 256 load lock files (default, on a tmpfs: "
       "$RUNTIME_DIRECTORY, as root /run/fc (or /dev/shm/fc where /run is no tmpfs), "
       "$XDG_RUNTIME_DIR, or a new one in /dev/shm; + /<shm-name>.locks; started as root and "
       "running as another --user, one level down: /<user>/<shm-name>.locks)")
      ("idle-timeout", po::value(&r.idle_s)->value_name("SEC"),
       ("close connections idle this long" + Default(r.idle_s)).c_str())
      ("shutdown-timeout", po::value(&r.shutdown_s)->value_name("SEC"),
       ("on SIGTERM, let transfers finish this long" + Default(r.shutdown_s)).c_str())
      ("access-log", po::value(&r.access_log)->value_name("PATH"),
       "one line per request, buffered (written every second, at 64 KiB and on exit): a file "
       "(appended to; SIGUSR1 reopens it), - for stderr, or off (default -)")
      ("log-format", po::value(&r.log_format)->value_name("NAME"),
       "access log format: combined (Apache/nginx combined, default), json (one object per "
       "line, with the cache outcome and time taken), or fc (a short line for people)")
      ("quiet", po::bool_switch(&r.quiet), "no access log (the same as --access-log off)")
      ("error-log", po::value(&r.error_log)->value_name("PATH"),
       "lifecycle events and errors go to this file instead of stderr (SIGUSR1 reopens it)")
      ("metrics-listen", po::value(&r.metrics_listen)->value_name("HOST:PORT"),
       "serve Prometheus metrics at GET /metrics on this address (default off)")
      ("upgrade-binary", po::value(&config->upgrade_binary)->value_name("PATH"),
       "on SIGUSR2, start this binary as the new master (default: the one running)")
      ("upgrade-timeout", po::value(&r.upgrade_timeout_s)->value_name("SEC"),
       ("on SIGUSR2, the new master must serve within this, or it is killed and the old one "
       "serves on" + Default(r.upgrade_timeout_s)).c_str())
      ("allow-upload", po::bool_switch(&r.allow_upload), "accept PUT uploads (off by default)")
      ("upload-token", po::value(&config->worker.upload_token)->value_name("TOKEN"),
       "uploads must carry this token (fc-client put --token, HTTP Authorization: Bearer); "
       "visible to local users in the process list: prefer --upload-token-file or FC_UPLOAD_TOKEN")
      ("upload-token-file", po::value(&r.token_file)->value_name("FILE"),
       "read the upload token from the first line of FILE")
      ("upload-min-rate", po::value(&r.min_rate)->value_name("SIZE"),
       ("close an upload slower than SIZE bytes/s on average after its first 10 s; 0: never"
       + Default(r.min_rate)).c_str())
      ("list", po::value(&r.list)->value_name("on|off"),
       "answer LIST (it discloses every cached name; default on)")
      ("list-from", po::value(&r.list_from)->value_name("PREFIXES"),
       ("HTTP: GET /.fc/cache answers only clients in these comma-separated address prefixes "
        "(10.0.0.0/8, ::1; any for everyone); others get 403. fc-client list is not limited"
        + Default(r.list_from)).c_str())
      ("max-upload", po::value(&r.max_upload)->value_name("SIZE"), ("largest upload" + Default(r.max_upload)).c_str())
      ("max-connections", po::value(&r.max_connections)->value_name("N"),
       ("open connections per worker; more are closed at once" + Default(r.max_connections)).c_str())
      ("request-timeout", po::value(&r.request_s)->value_name("SEC"),
       ("a request must arrive whole within this" + Default(r.request_s)).c_str())
      ("write-timeout", po::value(&r.write_s)->value_name("SEC"),
       ("close a client that reads nothing for this long" + Default(r.write_s)).c_str())
      ("max-queued", po::value(&r.max_queued)->value_name("N"),
       ("pipelined requests waiting per connection" + Default(r.max_queued)).c_str())
      ("user", po::value(&config->user)->value_name("NAME"),
       "started as root: run as this user once the port is bound, so the kernel's permission "
       "checks apply to what is served (default nobody; root keeps root)")
      ("lock-timeout", po::value(&r.lock_timeout_ms)->value_name("MS"),
       ("wait at most this long for the shared cache lock while serving; then stream from disk "
       "(a stopped lock holder never stops the service)" + Default(r.lock_timeout_ms)).c_str())
      ("drain-notice", po::value(&r.drain_notice_s)->value_name("SEC"),
       ("on SIGTERM, keep serving this long with the health endpoint answering 503, so that "
       "load balancers stop sending first" + Default(r.drain_notice_s)).c_str())
      ("health-path", po::value(&config->worker.health_path)->value_name("PATH"),
       ("HTTP health endpoint: 200 while serving, 503 while draining; names under /.fc/ are "
        "reserved" + Default(w.health_path)).c_str())
      ("default-type", po::value(&config->worker.default_type)->value_name("TYPE"),
       ("HTTP Content-Type for extensions /etc/mime.types does not know" + Default(w.default_type)).c_str())
      ("cache-control", po::value(&config->worker.cache_control)->value_name("VALUE"),
       "HTTP Cache-Control field sent with every file (default none)");
  AddWebOptions(w, &r.web, visible);
  AddTlsOptions(&r.tls, visible);
}

int ParseCommandLine(int argc, char** argv, MasterConfig* config, bool* run, std::string* error) {
  *run = false;
  *config = MasterConfig();
  Raw r = RawDefaults(*config);
  po::options_description visible(
      "Usage: fc-master --root DIR [options]\n"
      "  or:  fc-master --config FILE [options]\n"
      "  or:  fc-master HOST PORT DIR\n\n"
      "Serves the files under DIR over TCP (the fc protocol, see PROTOCOL.md, and\n"
      "HTTP/1.1) from a cache in shared memory, with a supervised pool of worker\n"
      "processes.\n\n"
      "Options");
  AddOptions(&r, config, &visible);
  po::options_description hidden;
  hidden.add_options()("positional", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("positional", -1);
  po::variables_map vm;
  auto fail = [error](const std::string& message) {
    if (error != nullptr) {
      *error = message;
      return 2;
    }
    return cli::UsageError("fc-master", message);
  };
  std::string restart_only;
  for (const RestartOnlyOption& o : RestartOnlyOptions()) {
    restart_only += restart_only.empty() ? "" : ", ";
    restart_only += o.name;
  }
  const std::string epilogue =
      "\nPrints \"listening on HOST:PORT\" on stdout once it accepts connections.\n"
      "Signals: TERM/INT stop (draining), HUP reloads the config file, USR1\n"
      "reopens the logs, USR2 upgrades to a new binary keeping the cache.\n"
      "A reload (HUP) changes every option but these, which need a restart:\n  " + restart_only + "\n";
  if (int rc = cli::Parse("fc-master", argc, argv, visible, all, &positional, &vm, epilogue.c_str());
      rc >= 0) {
    return rc;
  }
  if (!r.config_file.empty()) {
    if (Status st = cli::ParseConfigFile(r.config_file, visible, &vm); !st.ok()) {
      return fail(st.message());
    }
  }
  std::string warning;
  if (Status st = Check(vm, r, config, &warning); !st.ok()) return fail(st.message());
  if (!warning.empty() && error == nullptr) std::fprintf(stderr, "fc-master: %s\n", warning.c_str());
  config->argv.assign(argv, argv + argc);
  *run = true;
  return 0;
}

}  // namespace fc::master
