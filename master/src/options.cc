// fc-master's command line: the option form and the short form
// `fc-master HOST PORT DIR`.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include <boost/program_options.hpp>

#include "fc/master/master.h"
#include "fc/protocol/cli.h"
#include "fc/protocol/net.h"
#include "fc/protocol/wire.h"

namespace po = boost::program_options;

namespace fc::master {

namespace {

// The upload token: from --upload-token-file, FC_UPLOAD_TOKEN or (with a
// warning: /proc/PID/cmdline is world-readable) --upload-token. Returns an
// exit code, 0 when fine.
int ResolveUploadToken(bool from_argv, const std::string& file, std::string* token) {
  const char* env = std::getenv("FC_UPLOAD_TOKEN");
  const int sources = int{from_argv} + int{!file.empty()} + int{env != nullptr && *env != '\0'};
  if (sources > 1) {
    return cli::UsageError("fc-master", "give the upload token one way: --upload-token, "
                                        "--upload-token-file or FC_UPLOAD_TOKEN");
  }
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) {
      std::fprintf(stderr, "fc-master: cannot read --upload-token-file \"%s\": %s\n", file.c_str(),
                   std::strerror(errno));
      return 1;
    }
    std::getline(in, *token);
    while (!token->empty() && (token->back() == '\r' || token->back() == ' ')) token->pop_back();
    if (token->empty()) {
      std::fprintf(stderr, "fc-master: --upload-token-file \"%s\" is empty\n", file.c_str());
      return 1;
    }
  } else if (env != nullptr && *env != '\0') {
    *token = env;
  } else if (from_argv) {
    std::fprintf(stderr, "fc-master: warning: --upload-token on the command line is visible to "
                         "every local user (/proc/PID/cmdline); use --upload-token-file or "
                         "FC_UPLOAD_TOKEN\n");
  }
  if (token->size() > protocol::kMaxTokenLength) {
    return cli::UsageError("fc-master", "the upload token is longer than 256 bytes");
  }
  return 0;
}

}  // namespace

int ParseCommandLine(int argc, char** argv, MasterConfig* config, bool* run) {
  *run = false;
  std::string root, host = config->host, port = std::to_string(config->port), cache_size = "64M",
                    packet_size = "1K", policy = "fc";
  uint32_t workers = config->workers;
  int threads = config->worker.threads, loaders = config->worker.loaders;
  int idle_s = config->worker.idle_timeout_ms / 1000;
  int write_s = config->worker.write_timeout_ms / 1000;
  int request_s = config->worker.request_timeout_ms / 1000;
  int max_connections = config->worker.max_connections;
  int max_queued = config->worker.max_queued;
  int lock_timeout_ms = config->worker.lock_timeout_ms;
  std::string max_upload = "1G";
  std::string token_file, min_rate = "4K", list = "on";
  int shutdown_s = config->worker.shutdown_timeout_ms / 1000;
  int drain_notice_s = config->worker.drain_notice_ms / 1000;
  po::options_description visible(
      "Usage: fc-master --root DIR [options]\n"
      "       fc-master HOST PORT DIR\n\n"
      "Serves the files under DIR over TCP (the fc protocol, see PROTOCOL.md) from a\n"
      "cache in shared memory, with a supervised pool of worker processes.\n\n"
      "Options");
  visible.add_options()
      ("help,h", "print this help and exit")
      ("root", po::value(&root)->value_name("DIR"), "directory to serve (required)")
      ("host", po::value(&host)->value_name("ADDR"), "address to listen on (default 127.0.0.1)")
      ("port", po::value(&port)->value_name("N"), "TCP port; 0 picks a free one (default 9000)")
      ("workers", po::value(&workers)->value_name("N"), "worker processes (default 4)")
      ("threads", po::value(&threads)->value_name("N"), "event-loop threads per worker (default 2)")
      ("loaders", po::value(&loaders)->value_name("N"), "disk loader threads per worker (default 2)")
      ("cache-size", po::value(&cache_size)->value_name("SIZE"),
       "shared segment size, metadata included (default 64M)")
      ("packet-size", po::value(&packet_size)->value_name("SIZE"),
       "cache packet size, 64 bytes to 1M (default 1K)")
      ("policy", po::value(&policy)->value_name("NAME"),
       "eviction policy: fc (default), lru, fifo, sieve, s3fifo")
      ("shm-name", po::value(&config->cache.shm_name)->value_name("NAME"),
       "segment name (default fc-<port>)")
      ("lock-dir", po::value(&config->worker.lock_dir)->value_name("DIR"),
       "private directory for load lock files (default: $RUNTIME_DIRECTORY, /run/fc as root, "
       "$XDG_RUNTIME_DIR, or a new one in $TMPDIR; + /<shm-name>.locks)")
      ("idle-timeout", po::value(&idle_s)->value_name("SEC"),
       "close connections idle this long (default 60)")
      ("shutdown-timeout", po::value(&shutdown_s)->value_name("SEC"),
       "on SIGTERM, let transfers finish this long (default 10)")
      ("quiet", "do not log one line per request")
      ("allow-upload", "accept PUT uploads (off by default)")
      ("upload-token", po::value(&config->worker.upload_token)->value_name("TOKEN"),
       "uploads must carry this token (fc-client put --token, HTTP Authorization: Bearer); "
       "visible to local users in the process list: prefer --upload-token-file or FC_UPLOAD_TOKEN")
      ("upload-token-file", po::value(&token_file)->value_name("FILE"),
       "read the upload token from the first line of FILE")
      ("upload-min-rate", po::value(&min_rate)->value_name("SIZE"),
       "close an upload slower than SIZE bytes/s on average after its first 10 s; 0: never "
       "(default 4K)")
      ("list", po::value(&list)->value_name("on|off"),
       "answer LIST (it discloses every cached name; default on)")
      ("max-upload", po::value(&max_upload)->value_name("SIZE"), "largest upload (default 1G)")
      ("max-connections", po::value(&max_connections)->value_name("N"),
       "open connections per worker; more are closed at once (default 10000)")
      ("request-timeout", po::value(&request_s)->value_name("SEC"),
       "a request must arrive whole within this (default 10)")
      ("write-timeout", po::value(&write_s)->value_name("SEC"),
       "close a client that reads nothing for this long (default 60)")
      ("max-queued", po::value(&max_queued)->value_name("N"),
       "pipelined requests waiting per connection (default 32)")
      ("user", po::value(&config->user)->value_name("NAME"),
       "started as root: run as this user once the port is bound, so the kernel's permission "
       "checks apply to what is served (default nobody; root keeps root)")
      ("lock-timeout", po::value(&lock_timeout_ms)->value_name("MS"),
       "wait at most this long for the shared cache lock while serving; then stream from disk "
       "(a stopped lock holder never stops the service; default 10)")
      ("drain-notice", po::value(&drain_notice_s)->value_name("SEC"),
       "on SIGTERM, keep serving this long with the health endpoint answering 503, so that "
       "load balancers stop sending first (default 0)")
      ("health-path", po::value(&config->worker.health_path)->value_name("PATH"),
       "HTTP health endpoint: 200 while serving, 503 while draining (default /.fc/health; "
       "names under /.fc/ are reserved)")
      ("default-type", po::value(&config->worker.default_type)->value_name("TYPE"),
       "HTTP Content-Type for extensions /etc/mime.types does not know "
       "(default application/octet-stream)")
      ("cache-control", po::value(&config->worker.cache_control)->value_name("VALUE"),
       "HTTP Cache-Control field sent with every file (default none)");
  po::options_description hidden;
  hidden.add_options()("positional", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("positional", -1);
  po::variables_map vm;
  auto usage_error = [](const std::string& message) {
    return cli::UsageError("fc-master", message);
  };
  if (int rc = cli::Parse("fc-master", argc, argv, visible, all, &positional, &vm,
                          "\nPrints \"listening on HOST:PORT\" on stdout once it accepts "
                          "connections.\n");
      rc >= 0) {
    return rc;
  }
  if (vm.count("positional")) {
    const auto& args = vm["positional"].as<std::vector<std::string>>();
    if (args.size() != 3) return usage_error("the short form is: fc-master HOST PORT DIR");
    if (!root.empty()) return usage_error("give the directory either as --root or positionally");
    host = args[0];
    port = args[1];
    root = args[2];
  }
  if (root.empty()) return usage_error("missing --root DIR (the directory to serve)");
  auto parsed_port = net::ParsePort(port);
  if (!parsed_port.ok()) return usage_error(parsed_port.status().message());
  auto size = net::ParseByteSize(cache_size, "--cache-size");
  if (!size.ok()) return usage_error(size.status().message());
  auto packet = net::ParseByteSize(packet_size, "--packet-size");
  if (!packet.ok()) return usage_error(packet.status().message());
  if (packet.value() < 64 || packet.value() > (1u << 20)) {
    return usage_error("--packet-size must be between 64 and 1M");
  }
  if (size.value() < (1u << 20)) return usage_error("--cache-size must be at least 1M");
  auto parsed_policy = shm_cache::ParsePolicy(policy);
  if (!parsed_policy.ok()) return usage_error(parsed_policy.status().message());
  if (workers < 1 || workers > shm_cache::kMaxWorkerSlots) {
    return usage_error("--workers must be between 1 and 256");
  }
  if (threads < 1 || threads > 64) return usage_error("--threads must be between 1 and 64");
  if (loaders < 1 || loaders > 64) return usage_error("--loaders must be between 1 and 64");
  if (drain_notice_s < 0 || drain_notice_s > 3600) {
    return usage_error("--drain-notice must be between 0 and 3600 seconds");
  }
  const std::string& health = config->worker.health_path;
  if (!health.empty() && (health.size() < 2 || health[0] != '/' ||
                          health.find_first_of(" \t\r\n?#") != std::string::npos)) {
    return usage_error("--health-path must be an absolute path such as /.fc/health (or empty for none)");
  }
  if (idle_s < 1 || shutdown_s < 0 || write_s < 1 || request_s < 1) {
    return usage_error("timeouts must be positive");
  }
  if (max_connections < 1 || max_queued < 1) {
    return usage_error("--max-connections and --max-queued must be at least 1");
  }
  auto upload_limit = net::ParseByteSize(max_upload, "--max-upload");
  if (!upload_limit.ok()) return usage_error(upload_limit.status().message());
  auto rate = net::ParseByteSize(min_rate, "--upload-min-rate");
  if (!rate.ok()) return usage_error(rate.status().message());
  if (list != "on" && list != "off") return usage_error("--list takes on or off");
  if (int rc = ResolveUploadToken(vm.count("upload-token") > 0, token_file, &config->worker.upload_token);
      rc != 0) {
    return rc;
  }
  config->worker.upload_min_rate = rate.value();
  config->worker.allow_list = list == "on";
  config->host = host;
  config->port = parsed_port.value();
  config->workers = workers;
  config->cache.segment_size = size.value();
  config->cache.packet_size = static_cast<uint32_t>(packet.value());
  config->cache.policy = parsed_policy.value();
  config->cache.worker_slots = workers;
  config->worker.root = root;
  config->worker.threads = threads;
  config->worker.loaders = loaders;
  config->worker.idle_timeout_ms = idle_s * 1000;
  config->worker.write_timeout_ms = write_s * 1000;
  config->worker.request_timeout_ms = request_s * 1000;
  config->worker.max_connections = max_connections;
  config->worker.max_queued = max_queued;
  if (lock_timeout_ms < 1 || lock_timeout_ms > 10'000) {
    return usage_error("--lock-timeout must be between 1 and 10000 ms");
  }
  config->worker.lock_timeout_ms = lock_timeout_ms;
  config->worker.allow_upload = vm.count("allow-upload") > 0;
  config->worker.max_upload = upload_limit.value();
  config->worker.shutdown_timeout_ms = shutdown_s * 1000;
  config->worker.drain_notice_ms = drain_notice_s * 1000;
  config->worker.log_requests = vm.count("quiet") == 0;
  *run = true;
  return 0;
}

}  // namespace fc::master
