// fc-client: get a file into a directory, or list the server's cache.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "fc/client/client.h"
#include "fc/base/cli.h"
#include "fc/base/json.h"
#include "fc/base/net.h"
#include "progress.h"

namespace po = boost::program_options;
using fc::client::Endpoint;

namespace {

int UsageError(const std::string& message) { return fc::cli::UsageError("fc-client", message); }

int RunList(const Endpoint& server, bool as_json) {
  auto items = fc::client::List(server);
  if (!items.ok()) {
    std::fprintf(stderr, "fc-client: %s\n", items.status().message().c_str());
    return 1;
  }
  if (as_json) {
    std::string out = "[";
    for (size_t i = 0; i < items.value().size(); ++i) {
      const auto& it = items.value()[i];
      out += (i ? ",\n " : "\n ") + std::string("{\"name\": ") + fc::json::Quote(it.name) +
             ", \"size\": " + std::to_string(it.size) + ", \"readers\": " +
             std::to_string(it.readers) + ", \"hits\": " + std::to_string(it.hits) + "}";
    }
    out += items.value().empty() ? "]\n" : "\n]\n";
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  size_t width = 4;
  for (const auto& it : items.value()) width = std::max(width, it.name.size());
  width = std::min<size_t>(width, 60);
  std::printf("%-*s %14s %8s %10s\n", static_cast<int>(width), "NAME", "SIZE", "READERS", "HITS");
  for (const auto& it : items.value()) {
    std::printf("%-*s %14llu %8u %10llu\n", static_cast<int>(width), it.name.c_str(),
                static_cast<unsigned long long>(it.size), it.readers,
                static_cast<unsigned long long>(it.hits));
  }
  std::printf("%zu cached file%s\n", items.value().size(), items.value().size() == 1 ? "" : "s");
  return 0;
}

int RunGet(const Endpoint& server, fc::client::GetOptions options, bool quiet) {
  fc::client::ProgressBar bar(options.name, ::isatty(1) && !quiet);
  options.progress = [&bar](uint64_t done, uint64_t total) { bar.Update(done, total); };
  auto summary = fc::client::Get(server, options);
  bar.Finish();
  if (!summary.ok()) {
    std::fprintf(stderr, "fc-client: %s\n", summary.status().message().c_str());
    return 1;
  }
  if (!quiet) {
    std::printf("saved %s (%llu bytes, xxh64 %016llx, %s%s)\n", summary.value().path.c_str(),
                static_cast<unsigned long long>(summary.value().size),
                static_cast<unsigned long long>(summary.value().checksum),
                summary.value().from_cache ? "from cache" : "from disk",
                summary.value().attempts > 1
                    ? (", " + std::to_string(summary.value().attempts) + " attempts").c_str()
                    : "");
  }
  return 0;
}

int RunPut(const Endpoint& server, const std::string& local, const std::string& name,
           const std::string& token, bool http, bool quiet) {
  auto put = http ? fc::client::PutHttp(server, local, name, token)
                  : fc::client::Put(server, local, name, token);
  if (!put.ok()) {
    std::fprintf(stderr, "fc-client: %s\n", put.status().message().c_str());
    return 1;
  }
  if (!quiet) {
    std::printf("stored %s as \"%s\" (%llu bytes, xxh64 %016llx)\n", local.c_str(), name.c_str(),
                static_cast<unsigned long long>(put->size), static_cast<unsigned long long>(put->checksum));
  }
  return 0;
}

// What the command line asks for, once parsed.
struct Invocation {
  std::vector<std::string> args;  // the command and its words
  std::string token;
  int timeout_s = 30;
  int retries = 5;
  bool quiet = false;
  bool json = false;
  std::string cacert;  // https://: the CA file that verifies the server
};

// The HTTP forms: get URL [DIR], put LOCALFILE URL.
int RunUrlForm(const std::string& command, const Invocation& call) {
  const std::vector<std::string>& args = call.args;
  const bool put = command == "put";
  auto target = fc::client::ParseHttpUrl(put ? args[1] : args[0]);
  if (!target.ok()) return UsageError(target.status().message());
  target->server.timeout_ms = call.timeout_s * 1000;
  target->server.cacert = call.cacert;
  if (put) return RunPut(target->server, args[0], target->name, call.token, true, call.quiet);
  if (args.size() > 2) return UsageError("get takes http://HOST:PORT/NAME [DIR]");
  fc::client::GetOptions options;
  options.name = target->name;
  options.directory = args.size() == 2 ? args[1] : ".";
  options.retries = call.retries;
  options.http = true;
  return RunGet(target->server, options, call.quiet);
}

// The fc protocol's forms: get, list and put with HOST PORT first.
int RunHostPortForm(const std::string& command, const Invocation& call) {
  const std::vector<std::string>& args = call.args;
  if (args.size() < 2) return UsageError(command + " needs HOST and PORT");
  Endpoint server;
  server.host = args[0];
  auto port = fc::net::ParsePort(args[1]);
  if (!port.ok()) return UsageError(port.status().message());
  server.port = port.value();
  server.timeout_ms = call.timeout_s * 1000;
  if (command == "list") {
    if (args.size() != 2) return UsageError("list takes HOST PORT");
    return RunList(server, call.json);
  }
  if (command == "put") {
    if (args.size() < 3 || args.size() > 4) return UsageError("put takes HOST PORT LOCALFILE [NAME]");
    const std::string local = args[2];
    const std::string name = args.size() == 4 ? args[3] : local.substr(local.find_last_of('/') + 1);
    return RunPut(server, local, name, call.token, false, call.quiet);
  }
  if (args.size() < 3 || args.size() > 4) return UsageError("get takes HOST PORT NAME [DIR]");
  fc::client::GetOptions options;
  options.name = args[2];
  options.directory = args.size() == 4 ? args[3] : ".";
  options.retries = call.retries;
  return RunGet(server, options, call.quiet);
}

// The command (the short forms named), then its form.
int Dispatch(Invocation call) {
  std::vector<std::string>& args = call.args;
  if (args.empty()) return UsageError("missing command");
  std::string command = args[0];
  if (command == "get" || command == "list" || command == "put") {
    args.erase(args.begin());
  } else if (args.size() == 3 && args[2] == "list") {
    command = "list";
    args.pop_back();
  } else if (args.size() == 4) {
    command = "get";
  } else {
    return UsageError("unknown command \"" + command + "\"");
  }
  if (call.timeout_s < 1 || call.retries < 0) return UsageError("--timeout must be >= 1 and --retries >= 0");
  const bool get_url = command == "get" && !args.empty() &&
                       (args[0].rfind("http://", 0) == 0 || args[0].rfind("https://", 0) == 0);
  const bool put_url = command == "put" && args.size() == 2 && args[1].find("://") != std::string::npos;
  if (get_url || put_url) return RunUrlForm(command, call);
  return RunHostPortForm(command, call);
}

}  // namespace

int main(int argc, char** argv) {
  // A server that refuses an upload closes the connection mid-body: that is an
  // answer to read, not a reason to die of SIGPIPE.
  ::signal(SIGPIPE, SIG_IGN);
  int timeout_s = 30;
  std::string token;
  int retries = 5;
  std::string cacert;
  po::options_description visible(
      "Usage: fc-client get HOST PORT NAME [DIR]   save NAME into DIR (default .)\n"
      "  or:  fc-client list HOST PORT [--json]    show what the server has cached\n"
      "  or:  fc-client put HOST PORT LOCALFILE [NAME] [--token T]   upload a file\n"
      "  or:  fc-client HOST PORT NAME DIR         (short form of get)\n"
      "  or:  fc-client HOST PORT list             (short form of list)\n"
      "  or:  fc-client get http://HOST:PORT/NAME [DIR]   the same over HTTP (e.g. a load balancer)\n"
      "  or:  fc-client put LOCALFILE http://HOST:PORT/NAME [--token T]\n"
      "  (https:// URLs too: the server's certificate and name are verified, against\n"
      "  --cacert FILE or the system's CA store)\n\n"
      "A download goes to a temporary file in DIR and is renamed into place only\n"
      "after its size and xxHash64 checksum match; a cut connection is resumed\n"
      "(over HTTP: Range and If-Range; the checksum is the X-Fc-Checksum field).\n"
      "Exit status: 0 success, 1 failure (not found, refused, I/O), 2 usage.\n\n"
      "Options");
  visible.add_options()
      ("help,h", "print this help and exit")
      ("json", "list: print JSON instead of a table")
      ("quiet,q", "get, put: print nothing on success and no progress bar")
      ("token", po::value(&token)->value_name("T"), "put: the server's --upload-token")
      ("timeout", po::value(&timeout_s)->value_name("SEC"), "connect/read timeout (default 30)")
      ("cacert", po::value(&cacert)->value_name("FILE"),
       "https://: trust the CA certificates in FILE (PEM) instead of the system's")
      ("retries", po::value(&retries)->value_name("N"),
       "get: attempts after a cut connection (default 5)");
  po::options_description hidden;
  hidden.add_options()("args", po::value<std::vector<std::string>>(), "");
  po::options_description all;
  all.add(visible).add(hidden);
  po::positional_options_description positional;
  positional.add("args", -1);
  po::variables_map vm;
  if (int rc = fc::cli::Parse("fc-client", argc, argv, visible, all, &positional, &vm); rc >= 0) {
    return rc;
  }
  Invocation call;
  if (vm.count("args")) call.args = vm["args"].as<std::vector<std::string>>();
  call.token = token;
  call.timeout_s = timeout_s;
  call.retries = retries;
  call.cacert = cacert;
  call.quiet = vm.count("quiet") > 0;
  call.json = vm.count("json") > 0;
  return Dispatch(call);
}
