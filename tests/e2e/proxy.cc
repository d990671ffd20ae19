// Reverse proxies for end-to-end tests; see proxy.h.
#include "proxy.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace fc::testing {
namespace {

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + to.size())) {
    text.replace(p, from.size(), to);
  }
  return text;
}

bool Accepts(uint16_t port) {
  RawConnection probe(port);
  return probe.connected();
}

}  // namespace

uint16_t FreePort() {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return 0;
  }
  return ntohs(addr.sin_port);
}

Proxy::Proxy(Kind kind, uint16_t upstream_port) {
  const std::string binary = kind == Kind::kHaproxy ? "/usr/sbin/haproxy" : "/usr/sbin/nginx";
  if (::access(binary.c_str(), X_OK) != 0) {
    problem_ = binary + " is not installed (scripts/install-deps.sh installs it)";
    return;
  }
  const std::string name = Name(kind);
  std::ifstream in(std::string(FC_PROXY_CONFIG_DIR) + "/" +
                   (kind == Kind::kHaproxy ? "haproxy.cfg" : "nginx.conf"));
  std::stringstream text;
  text << in.rdbuf();
  port_ = FreePort();
  std::string config = Replace(text.str(), "@FRONT_PORT@", std::to_string(port_));
  config = Replace(config, "@FC_PORT@", std::to_string(upstream_port));
  config = Replace(config, "@DIR@", dir_.path());
  const std::string config_path = dir_ / (name + ".conf");
  std::ofstream(config_path) << config;
  std::vector<std::string> args =
      kind == Kind::kHaproxy
          ? std::vector<std::string>{binary, "-db", "-f", config_path}
          : std::vector<std::string>{binary, "-c", config_path, "-p", dir_.path() + "/", "-e",
                                     dir_ / "error.log"};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = dir_ / "output.log";
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  const int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    problem_ = "cannot start " + binary;
    return;
  }
  for (int i = 0; i < 100; ++i) {
    if (Accepts(port_)) return;
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  problem_ = name + " did not start listening on port " + std::to_string(port_) + ": " +
             ReadFileOrEmpty(log) + ReadFileOrEmpty(dir_ / "error.log");
}

Proxy::~Proxy() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 100; ++i) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

}  // namespace fc::testing
