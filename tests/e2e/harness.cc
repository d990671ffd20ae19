// End-to-end test harness; see harness.h.
#include "harness.h"

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <strings.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "fc/base/checksum.h"
#include "fc/base/temp_dir.h"

extern char** environ;

namespace fc::testing {
namespace {

int64_t NowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000 + ts.tv_nsec / 1000000;
}

void RemoveTree(const std::string& path) {
  struct stat st;
  if (::lstat(path.c_str(), &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        if (name != "." && name != "..") RemoveTree(path + "/" + name);
      }
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  } else {
    ::unlink(path.c_str());
  }
}

std::vector<char*> Argv(const std::vector<std::string>& args) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  return argv;
}

}  // namespace

TempDir::TempDir() {
  std::string tmpl = TempDirectory() + "/fc-test-XXXXXX";
  const char* p = ::mkdtemp(tmpl.data());
  if (p == nullptr) ADD_FAILURE() << "mkdtemp failed in " << TempDirectory() << ": " << std::strerror(errno);
  path_ = p ? p : TempDirectory();
}

TempDir::~TempDir() { RemoveTree(path_); }

void WriteFile(const std::string& path, uint64_t size, uint32_t seed) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  std::mt19937_64 rng(seed);
  std::vector<uint64_t> block(8192);
  uint64_t left = size;
  while (left > 0) {
    for (auto& w : block) w = rng();
    const uint64_t n = std::min<uint64_t>(left, block.size() * 8);
    out.write(reinterpret_cast<const char*>(block.data()), static_cast<std::streamsize>(n));
    left -= n;
  }
  if (!out) ADD_FAILURE() << "cannot write " << path;
}

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t FileChecksum(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    ADD_FAILURE() << "cannot open " << path;
    return 0;
  }
  Checksum64 hash;
  std::vector<char> buf(1 << 20);
  ssize_t n;
  while ((n = ::read(fd.get(), buf.data(), buf.size())) > 0) hash.Update(buf.data(), n);
  return hash.Digest();
}

bool FileExists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

ToolResult RunTool(const std::vector<std::string>& args, int timeout_ms) {
  ToolResult result;
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) return result;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  pid_t pid;
  auto argv = Argv(args);
  const int rc = ::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    result.err = "spawn failed: " + std::string(std::strerror(rc));
    return result;
  }
  const int64_t deadline = NowMs() + timeout_ms;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  int open_fds = 2;
  bool killed = false;
  char buf[65536];
  while (open_fds > 0) {
    const int64_t left = deadline - NowMs();
    if (left <= 0) {
      ::kill(pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(std::min<int64_t>(left, 1000))) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buf, static_cast<size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = (!killed && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
  if (killed) result.err += "\n[harness: killed after " + std::to_string(timeout_ms) + " ms]";
  return result;
}

SmallTmpfs::SmallTmpfs(const std::string& path, const std::string& size) : path_(path) {
  ::mkdir(path.c_str(), 0755);
  if (::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0) {
    error_ = std::string("cannot mount a small tmpfs here (needs root): ") + std::strerror(errno);
  }
}

SmallTmpfs::~SmallTmpfs() {
  if (mounted()) ::umount2(path_.c_str(), MNT_DETACH);
}

std::string MasterBin() { return FC_MASTER_BIN; }
std::string ClientBin() { return FC_CLIENT_BIN; }
std::string ShmdumpBin() { return FC_SHMDUMP_BIN; }

Server::Server(const std::string& root, std::vector<std::string> extra_args,
               std::vector<std::string> env, bool positional) {
  static int counter = 0;
  log_path_ = TempDirectory() + "/fc-test-master-" + std::to_string(::getpid()) + "-" +
              std::to_string(counter++) + ".log";
  // An empty root: the test gives it another way (a --config file).
  std::vector<std::string> args = positional
                                      ? std::vector<std::string>{MasterBin(), "127.0.0.1", "0", root}
                                      : std::vector<std::string>{MasterBin(), "--port", "0"};
  if (!positional && !root.empty()) {
    args.push_back("--root");
    args.push_back(root);
  }
  bool has_workers = false, has_policy = false, has_user = false, has_format = false;
  for (const auto& a : extra_args) {
    has_format = has_format || a == "--log-format";
    has_workers = has_workers || a == "--workers" || a == "--config";  // the file says
    has_policy = has_policy || a == "--policy";
    has_user = has_user || a == "--user";
  }
  if (!has_workers) {
    args.push_back("--workers");
    args.push_back("2");
  }
  if (!has_user && ::geteuid() == 0) {  // test trees are private to root; hardening_test covers the drop
    args.push_back("--user");
    args.push_back("root");
  }
  if (!has_policy) {  // most tests count on a file being cached at its first request
    args.push_back("--policy");
    args.push_back("lru");
  }
  if (!has_format) {  // tests read the outcome ("hit", "stream", "refused") from fc's own line
    args.push_back("--log-format");
    args.push_back("fc");
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) return;
  const int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
  auto argv = Argv(args);
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  auto envp = Argv(env);
  const int rc = ::posix_spawn(&pid_, args[0].c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  ::close(out_pipe[1]);
  ::close(log_fd);
  if (rc != 0) {
    ADD_FAILURE() << "cannot start fc-master: " << std::strerror(rc);
    pid_ = -1;
    ::close(out_pipe[0]);
    return;
  }
  // Read "listening on HOST:PORT" within 10 s (longer under sanitizers),
  // and with --tls-listen the "https listening on HOST:PORT" after it.
  bool tls = false;
  for (const auto& a : extra_args) tls = tls || a == "--tls-listen";
  std::string line;
  const int64_t deadline = NowMs() + 10'000 * kTimeFactor;
  pollfd pfd{out_pipe[0], POLLIN, 0};
  auto whole = [&] {
    const size_t first = line.find('\n');
    return first != std::string::npos && (!tls || line.find('\n', first + 1) != std::string::npos ||
                                          line.compare(0, 13, "listening on ") != 0);
  };
  while (!whole() && NowMs() < deadline) {
    if (::poll(&pfd, 1, 100) > 0) {
      char buf[256];
      const ssize_t n = ::read(out_pipe[0], buf, sizeof(buf));
      if (n <= 0) break;
      line.append(buf, static_cast<size_t>(n));
    }
  }
  ::close(out_pipe[0]);
  const std::string first = line.substr(0, line.find('\n'));
  const size_t colon = first.rfind(':');
  if (first.rfind("listening on ", 0) == 0 && colon != std::string::npos) {
    port_ = static_cast<uint16_t>(std::atoi(first.c_str() + colon + 1));
  }
  const size_t https = line.find("https listening on ");
  if (https != std::string::npos) {
    const std::string second = line.substr(https, line.find('\n', https) - https);
    tls_port_ = static_cast<uint16_t>(std::atoi(second.c_str() + second.rfind(':') + 1));
  }
  if (tls && tls_port_ == 0) port_ = 0;
  if (port_ == 0) ADD_FAILURE() << "fc-master did not start; log:\n" << Log();
}

Server::~Server() {
  if (pid_ > 0) Stop();
  // Under -DFC_SANITIZE a finding in any server process is a test failure, even
  // if the supervisor replaced the process and the clients never noticed.
  const std::string log = Log();
  for (const char* marker : {"Sanitizer", "runtime error:"}) {
    const size_t at = log.find(marker);
    if (at != std::string::npos) {
      ADD_FAILURE() << "sanitizer report in the server log:\n"
                    << log.substr(at > 2000 ? at - 2000 : 0, 6000);
      break;
    }
  }
  ::unlink(log_path_.c_str());
}

void Server::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int Server::Stop(int timeout_ms) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const int64_t deadline = NowMs() + timeout_ms;
  int status = 0;
  while (NowMs() < deadline) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    ::usleep(10'000);
  }
  ADD_FAILURE() << "fc-master did not stop within " << timeout_ms << " ms";
  for (pid_t w : WorkerPids()) ::kill(w, SIGKILL);
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

std::vector<pid_t> Server::WorkerPids() const {
  std::vector<pid_t> pids;
  if (pid_ <= 0) return pids;
  std::ifstream in("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children");
  pid_t p;
  while (in >> p) {
    // Skip zombies not reaped yet.
    std::ifstream stat("/proc/" + std::to_string(p) + "/stat");
    std::string text;
    std::getline(stat, text);
    const size_t paren = text.rfind(')');
    if (paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z') continue;
    // The standby (master/src/standby.h) is not a worker until it takes a slot.
    if (text.find("(fc-standby)") != std::string::npos) continue;
    // Nor is the short-lived page filler (master/src/populate.h).
    if (text.find("(fc-populate)") != std::string::npos) continue;
    // Nor the TLS key reader (master/src/tls_setup.h).
    if (text.find("(fc-keys)") != std::string::npos) continue;
    pids.push_back(p);
  }
  return pids;
}

pid_t Server::StandbyPid() const {
  std::ifstream in("/proc/" + std::to_string(pid_) + "/task/" + std::to_string(pid_) + "/children");
  for (pid_t p; in >> p;) {
    if (ReadFileOrEmpty("/proc/" + std::to_string(p) + "/comm") == "fc-standby\n") return p;
  }
  return 0;
}

int Server::WaitForWorkers(size_t count, const std::vector<pid_t>& excluded,
                           int timeout_ms) const {
  const int64_t start = NowMs();
  while (NowMs() - start < timeout_ms) {
    auto pids = WorkerPids();
    bool fresh = pids.size() == count;
    for (pid_t p : pids) {
      for (pid_t x : excluded) fresh = fresh && p != x;
    }
    if (fresh) return static_cast<int>(NowMs() - start);
    ::usleep(2000);
  }
  return -1;
}

ToolResult Server::Client(std::vector<std::string> args, int timeout_ms) const {
  std::vector<std::string> argv = {ClientBin()};
  // Insert HOST PORT after the subcommand.
  argv.push_back(args.at(0));
  argv.push_back("127.0.0.1");
  argv.push_back(port_text());
  argv.insert(argv.end(), args.begin() + 1, args.end());
  return RunTool(argv, timeout_ms);
}

bool Server::WaitForLog(const std::string& text, int timeout_ms) const {
  // The access log is written out once a second: poll for the line.
  for (int waited = 0; waited <= timeout_ms; waited += 20) {
    if (Log().find(text) != std::string::npos) return true;
    ::usleep(20'000);
  }
  return false;
}

std::string Server::LockDir() const {
  const std::string log = Log();
  const std::string key = "lock directory ";
  const size_t p = log.find(key);
  if (p == std::string::npos) return "";
  const size_t start = p + key.size();
  return log.substr(start, log.find('\n', start) - start);
}

ToolResult Server::Shmdump(std::vector<std::string> args, int timeout_ms) const {
  std::vector<std::string> argv = {ShmdumpBin(), "--port", port_text()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunTool(argv, timeout_ms);
}

}  // namespace fc::testing
