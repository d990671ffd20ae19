// fc run at its defaults, as an operator would, and the surfaces a review
// attacked: the error log's rotation in every process, descriptors running
// out, a large cache's start-up and a stop during it, and leftovers of a
// master that ran as another user. Real fc-masters on port 0.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <memory>
#include <fstream>
#include <map>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "fc/base/private_dir.h"
#include "harness.h"

namespace fc::testing {
namespace {

using Clock = std::chrono::steady_clock;

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// One plain HTTP GET on a new connection (status 0 if it failed).
int GetStatus(uint16_t port, const std::string& target) {
  RawConnection conn(port);
  if (!conn.connected()) return 0;
  conn.Send("GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  HttpResponse response;
  return ReadHttpResponse(conn, &response) ? response.status : 0;
}

// The postrotate command of packaging/fc.logrotate, as one line.
std::string PostrotateCommand() {
  std::ifstream in(std::string(FC_PACKAGING_DIR) + "/fc.logrotate");
  std::string line, command;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.find("endscript") != std::string::npos) break;
    if (inside) command += line;
    if (line.find("postrotate") != std::string::npos) inside = true;
  }
  return command;
}

// Open descriptors of a process.
int OpenFds(pid_t pid) {
  int n = 0;
  if (DIR* d = ::opendir(("/proc/" + std::to_string(pid) + "/fd").c_str())) {
    while (dirent* e = ::readdir(d)) n += e->d_name[0] != '.';
    ::closedir(d);
  }
  return n;
}

// utime + stime of a process, in clock ticks.
// Sets `pid`'s RLIMIT_NOFILE (soft and hard) to the descriptors it holds
// plus `room`; *before gets the limit it had.
::testing::AssertionResult LeaveRoomFor(pid_t pid, int room, rlimit* before) {
  const rlim_t limit = static_cast<rlim_t>(OpenFds(pid) + room);
  const rlimit low{limit, limit};
  if (::prlimit(pid, RLIMIT_NOFILE, &low, before) != 0) {
    return ::testing::AssertionFailure() << "prlimit: " << std::strerror(errno);
  }
  return ::testing::AssertionSuccess();
}

// How many of `pid`'s descriptors are open on a path starting with `prefix`.
int FdsUnder(pid_t pid, const std::string& prefix) {
  int n = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd/";
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::error_code error;
    const std::string target = std::filesystem::read_symlink(entry.path(), error).string();
    if (!error && target.compare(0, prefix.size(), prefix) == 0) ++n;
  }
  return n;
}

long CpuTicks(pid_t pid) {
  const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream in(stat.substr(paren + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

TEST(DefaultsTest, Sigusr1ReopensTheErrorLogInTheMasterAndEveryWorker) {
  // logrotate's postrotate signals the master alone (systemd's main pid);
  // the master passes the signal on to its workers.
  const std::string postrotate = PostrotateCommand();
  ASSERT_NE(postrotate.find("-s USR1"), std::string::npos) << postrotate;
  ASSERT_NE(postrotate.find("--kill-who=main"), std::string::npos) << postrotate;

  TempDir root, logs;
  WriteFile(root / "a.bin", 5000, 1);
  const std::string error_log = logs / "error.log", access_log = logs / "access.log";
  Server server(root.path(), {"--error-log", error_log, "--access-log", access_log});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(WaitUntil([&] { return Count(ReadFileOrEmpty(error_log), "serving with") == 2; }, 5000))
      << "both workers log their start into --error-log: " << ReadFileOrEmpty(error_log);
  // What logrotate does: move both files, then the postrotate signal.
  ASSERT_EQ(::rename(error_log.c_str(), (error_log + ".1").c_str()), 0);
  ASSERT_EQ(::rename(access_log.c_str(), (access_log + ".1").c_str()), 0);
  ASSERT_EQ(::kill(server.pid(), SIGUSR1), 0);
  ASSERT_TRUE(WaitUntil([&] { return Count(ReadFileOrEmpty(error_log), "reopened the error log") == 2; }, 5000))
      << "each worker writes into the new error log: new file: " << ReadFileOrEmpty(error_log)
      << "\nold file: " << ReadFileOrEmpty(error_log + ".1");
  // Each worker logs the access log's reopening just after the error log's.
  EXPECT_TRUE(WaitUntil([&] { return Count(ReadFileOrEmpty(error_log), "reopened the access log") == 2; }, 5000))
      << ReadFileOrEmpty(error_log);
  const std::string fresh = ReadFileOrEmpty(error_log);
  EXPECT_NE(fresh.find("fc-master["), std::string::npos) << "the master too: " << fresh;
  EXPECT_EQ(Count(fresh, "reopened the access log"), 2u) << fresh;
  const std::string old = ReadFileOrEmpty(error_log + ".1");
  EXPECT_EQ(old.find("reopened"), std::string::npos) << "nothing after the signal goes to the moved file: " << old;
  // A worker's next error line lands in the new file too.
  const std::vector<pid_t> workers = server.WorkerPids();
  ASSERT_EQ(workers.size(), 2u);
  ::kill(workers[0], SIGTERM);
  ASSERT_GE(server.WaitForWorkers(2, {workers[0]}, 5000), 0);
  ASSERT_TRUE(WaitUntil([&] { return Count(ReadFileOrEmpty(error_log), "serving with") == 1; }, 5000))
      << ReadFileOrEmpty(error_log);
  EXPECT_EQ(Count(ReadFileOrEmpty(error_log + ".1"), "serving with"), 2u);
  EXPECT_EQ(GetStatus(server.port(), "/a.bin"), 200);
}

TEST(DefaultsTest, OutOfDescriptorsTheWorkerPausesAcceptInsteadOfSpinning) {
#if defined(__SANITIZE_ADDRESS__)
  // UBSan (built with ASan here) checks a vptr by writing the memory to a
  // pipe: with no descriptor left it reports a bogus "invalid vptr".
  GTEST_SKIP() << "UBSan's vptr check needs a free descriptor, which this test takes away";
#endif
  TempDir root;
  WriteFile(root / "a.bin", 5000, 1);
  Server server(root.path(), {"--workers", "1"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("serving with") != std::string::npos; }, 5000));
  const std::vector<pid_t> workers = server.WorkerPids();
  ASSERT_EQ(workers.size(), 1u);
  const pid_t worker = workers[0];
  // The worker's own `ulimit -n`: room for 10 connections beyond what it holds.
  rlimit before{};
  ASSERT_TRUE(LeaveRoomFor(worker, 10, &before));
  // 40 connections that each start a request and never finish it: 10 are
  // accepted, the rest wait in the backlog with their bytes readable.
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < 40; ++i) {
    conns.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(conns.back()->connected());
    conns.back()->Send("GET /a.bin HTTP/1.1\r\n");
  }
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("Too many open files") != std::string::npos; }, 5000))
      << server.Log();
  // Two seconds out of descriptors: the worker stays near idle.
  const long ticks_before = CpuTicks(worker);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long ticks = CpuTicks(worker) - ticks_before;
  const long hz = ::sysconf(_SC_CLK_TCK);
  EXPECT_LT(ticks * 1000 / hz, 200 * kTimeFactor) << "ms of worker CPU in 2 s out of descriptors";
  EXPECT_LE(Count(server.Log(), "accept4"), 2u) << "the log line is rate-limited: " << server.Log();
  // Once the connections close, the waiting ones and new ones are served.
  conns.clear();
  EXPECT_TRUE(WaitUntil([&] { return GetStatus(server.port(), "/a.bin") == 200; }, 3000)) << server.Log();
  ::prlimit(worker, RLIMIT_NOFILE, &before, nullptr);
}

// Descriptors kept for misses (--open-files) give way to connections: out of
// descriptors, the worker closes the older half of the kept ones and accepts
// on, instead of pausing accept while it holds files nobody is reading.
TEST(DefaultsTest, OutOfDescriptorsKeptFilesGiveWayToConnections) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "UBSan's vptr check needs a free descriptor, which this test takes away";
#endif
  TempDir root;
  WriteFile(root / "a.bin", 5000, 1);
  for (int i = 0; i < 30; ++i) WriteFile(root / ("k" + std::to_string(i)), 20'000, i);
  Server server(root.path(), {"--workers", "1"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("serving with") != std::string::npos; }, 5000));
  const pid_t worker = server.WorkerPids().at(0);
  const std::string kept = std::filesystem::canonical(root.path()).string() + "/k";
  // 30 misses (first requests of files over the gate: streamed), each file's
  // descriptor kept; a.bin cached.
  for (int i = 0; i < 30; ++i) ASSERT_EQ(GetStatus(server.port(), "/k" + std::to_string(i)), 200);
  ASSERT_EQ(GetStatus(server.port(), "/a.bin"), 200);
  ASSERT_TRUE(WaitUntil([&] { return FdsUnder(worker, kept) == 30; }, 3000)) << FdsUnder(worker, kept);
  // Room for 5 connections beyond what it holds, 20 to come.
  rlimit before{};
  ASSERT_TRUE(LeaveRoomFor(worker, 5, &before));
  std::vector<std::unique_ptr<RawConnection>> conns;
  for (int i = 0; i < 20; ++i) {
    conns.push_back(std::make_unique<RawConnection>(server.port()));
    ASSERT_TRUE(conns.back()->connected());
    conns.back()->SetReceiveTimeout(3000);
    conns.back()->Send("GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n");
  }
  int answered = 0;
  for (auto& conn : conns) {
    HttpResponse r;
    if (ReadHttpResponse(*conn, &r) && r.status == 200) ++answered;
  }
  EXPECT_EQ(answered, 20) << "every connection answered while they all stay open\n" << server.Log();
  EXPECT_LE(FdsUnder(worker, kept), 15) << "the older half of the kept descriptors closed, at least";
  EXPECT_EQ(server.Log().find("Too many open files"), std::string::npos) << "accept never paused";
  ::prlimit(worker, RLIMIT_NOFILE, &before, nullptr);
}

// At the defaults as root (the drop to nobody, without the right to raise
// RLIMIT_NICE), every idle thread of a worker sits at nice 0: a SIGKILLed
// worker is reaped only once each thread has run its exit, and a nice-10
// loader on a busy machine made that tens of milliseconds.
TEST(DefaultsTest, AsNobodyIdleWorkerThreadsRunAtNiceZero) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (the default drop to nobody)";
  TempDir root;
  ASSERT_EQ(::chmod(root.path().c_str(), 0755), 0);
  Server server(root.path(), {"--user", "nobody"});
  ASSERT_TRUE(server.started()) << server.Log();
  for (pid_t worker : server.WorkerPids()) {
    std::map<std::string, int> nice;  // thread id -> nice
    EXPECT_TRUE(WaitUntil([&] {
      nice.clear();
      const std::string dir = "/proc/" + std::to_string(worker) + "/task";
      if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
          if (e->d_name[0] == '.') continue;
          const std::string stat = ReadFileOrEmpty(dir + "/" + e->d_name + "/stat");
          std::istringstream in(stat.substr(stat.rfind(')') + 2));
          std::string field;
          for (int i = 3; i <= 19 && in >> field; ++i) {
            if (i == 19) nice[e->d_name] = std::stoi(field);
          }
        }
        ::closedir(d);
      }
      return nice.size() >= 5;
    }, 5000)) << "worker " << worker;
    for (const auto& [tid, value] : nice) EXPECT_EQ(value, 0) << "thread " << tid << " of worker " << worker;
  }
}

// The default lock directory is on a tmpfs whatever /run is, and a start at
// the defaults warns about nothing. A --lock-dir on a disk costs no disk
// work per load (the pool's files are opened once, a load only flocks), so
// it is served from without a warning either, and its pool is created there.
TEST(DefaultsTest, TheDefaultLockDirectoryIsOnATmpfsAndTheStartWarnsOfNothing) {
  TempDir root;
  ASSERT_EQ(::chmod(root.path().c_str(), 0755), 0);
  // As root, fc's default user (the harness otherwise keeps root).
  std::vector<std::string> defaults;
  if (::geteuid() == 0) defaults = {"--user", "nobody"};
  Server server(root.path(), defaults);
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_FALSE(server.LockDir().empty()) << server.Log();
  EXPECT_TRUE(OnTmpfs(server.LockDir())) << server.LockDir();
  EXPECT_EQ(server.Log().find("not on a tmpfs"), std::string::npos) << server.Log();
  EXPECT_EQ(server.Log().find("warning"), std::string::npos) << server.Log();
  if (!OnTmpfs(root.path())) {
    WriteText(root / "a.txt", "on disk");
    Server on_disk(root.path(), {"--lock-dir", root / "locks"});
    ASSERT_TRUE(on_disk.started()) << on_disk.Log();
    EXPECT_EQ(on_disk.Log().find("tmpfs"), std::string::npos) << on_disk.Log();  // (it keeps root: that warns)
    const HttpResponse got = SendHttp(on_disk.port(), "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(got.status, 200) << got.head;
    EXPECT_EQ(got.body, "on disk");
    const std::string locks = root / "locks";
    const auto files = std::distance(std::filesystem::directory_iterator(locks), std::filesystem::directory_iterator());
    EXPECT_GE(files, 1) << "the load took its lock in the --lock-dir on disk";
  }
}

// --cache-size auto inside a memory cgroup: the limit (512 MiB; 2 GiB under
// sanitizers, whose runtimes take hundreds of MiB per process) minus a
// quarter of headroom. The test moves itself into a fresh cgroup (v1 memory
// controller, or v2 where that is how the machine is set up), starts fc
// there, and moves back.
TEST(DefaultsTest, CacheSizeAutoFollowsTheCgroupMemoryLimit) {
  std::string own_v1, own_v2;
  {
    std::ifstream in("/proc/self/cgroup");
    for (std::string line; std::getline(in, line);) {
      const size_t a = line.find(':'), b = line.find(':', a + 1);
      const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
      if (controllers == "memory") own_v1 = path;
      if (controllers.empty()) own_v2 = path;
    }
  }
  constexpr uint64_t kLimitMiB = kTimeFactor > 1 ? 2048 : 512;
  const uint64_t segment_mib = kLimitMiB - kLimitMiB / 4;
  std::string group, procs_back;
  const std::string name = "fc-auto-test-" + std::to_string(::getpid());
  if (!own_v1.empty() && ::mkdir(("/sys/fs/cgroup/memory/" + name).c_str(), 0755) == 0) {
    group = "/sys/fs/cgroup/memory/" + name;
    WriteText(group + "/memory.limit_in_bytes", std::to_string(kLimitMiB << 20));
    procs_back = "/sys/fs/cgroup/memory" + own_v1 + "/cgroup.procs";
  } else if (FileExists("/sys/fs/cgroup/cgroup.controllers") &&
             ReadFileOrEmpty("/sys/fs/cgroup/cgroup.controllers").find("memory") != std::string::npos &&
             ::mkdir(("/sys/fs/cgroup/" + name).c_str(), 0755) == 0) {
    group = "/sys/fs/cgroup/" + name;
    WriteText(group + "/memory.max", std::to_string(kLimitMiB << 20));
    procs_back = "/sys/fs/cgroup" + own_v2 + "/cgroup.procs";
  } else {
    GTEST_SKIP() << "cannot make a memory cgroup here (needs root and a memory controller)";
  }
  WriteText(group + "/cgroup.procs", std::to_string(::getpid()));
  TempDir root;
  {
    Server server(root.path(), {"--cache-size", "auto"});
    WriteText(procs_back, std::to_string(::getpid()));  // the test itself moves back at once
    ASSERT_TRUE(server.started()) << server.Log();
    EXPECT_NE(server.Log().find("--cache-size auto: " + std::to_string(segment_mib) + " MiB (cgroup memory limit " +
                                std::to_string(kLimitMiB) + " MiB - headroom " +
                                std::to_string(kLimitMiB / 4) + " MiB)"),
              std::string::npos) << server.Log();
    EXPECT_NE(server.Log().find("cache \"" + server.shm_name() + "\": " + std::to_string(segment_mib << 20) +
                                " bytes"), std::string::npos)
        << server.Log();
    EXPECT_EQ(server.Stop(), 0);
  }
  WriteText(procs_back, std::to_string(::getpid()));
  EXPECT_TRUE(WaitUntil([&] { return ::rmdir(group.c_str()) == 0; }, 5000)) << group << ": " << std::strerror(errno);
}

// A 2 GiB cache used to take 7-8 s to start (every packet was zeroed, so
// every page faulted in); the measured figure is for bench, the bound here
// only catches that regression.
TEST(DefaultsTest, ALargeCacheStartsAtOnce) {
  TempDir root;
  WriteFile(root / "a.bin", 5000, 1);
  const auto started = Clock::now();
  Server server(root.path(), {"--cache-size", "2G"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_EQ(GetStatus(server.port(), "/a.bin"), 200);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  std::printf("2 GiB cache: serving %lld ms after the start\n", static_cast<long long>(ms));
  EXPECT_LT(ms, 3000 * kTimeFactor);
  EXPECT_EQ(server.Shmdump({"--check"}).exit_code, 0);
}

// After the start, fc-populate faults the whole packet area in at idle
// priority (the pages are zeroed there, not under a request's load), the
// bytes served meanwhile stay right, and a stop while it runs leaves no
// process behind.
TEST(DefaultsTest, TheCachesPagesAreFaultedInAfterTheStartOffTheRequestPath) {
  TempDir root;
  WriteFile(root / "a.bin", 50'000, 7);
  Server server(root.path(), {"--cache-size", "256M"});
  ASSERT_TRUE(server.started()) << server.Log();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(SendHttp(server.port(), "GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n").body,
                                        ReadFileOrEmpty(root / "a.bin"));
  ASSERT_TRUE(server.WaitForLog("fc-populate: ", 20'000)) << server.Log();
  const std::string log = server.Log();
  const long done = NumberAfter(log, "fc-populate: "), of = NumberAfter(log, " of ", log.find("fc-populate: "));
  EXPECT_GT(of, 200) << log;
  EXPECT_EQ(done, of) << log;
  EXPECT_NE(log.find("at idle priority; done"), std::string::npos) << log;
  EXPECT_EQ(server.Shmdump({"--check"}).exit_code, 0);
  EXPECT_EQ(SendHttp(server.port(), "GET /a.bin HTTP/1.1\r\nHost: x\r\n\r\n").body, ReadFileOrEmpty(root / "a.bin"));
  // A stop while it is still running: it goes with the master.
  Server big(root.path(), {"--cache-size", "2G"});
  ASSERT_TRUE(big.started()) << big.Log();
  EXPECT_EQ(big.Stop(), 0);
  // Forked, not exec'd: its command line is the master's, with this root.
  const auto populate_left = [&] {
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
      const std::string stat = ReadFileOrEmpty(entry.path().string() + "/stat");
      const size_t paren = stat.rfind(')');
      if (stat.find("(fc-populate)") == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] == 'Z') continue;
      if (ReadFileOrEmpty(entry.path().string() + "/cmdline").find(root.path()) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(WaitUntil([&] { return !populate_left(); }, 2000)) << "an fc-populate of the stopped master is left";
}

// SIGTERM at random points of a start-up with a 1 GiB cache, at fc's
// defaults (as root: the drop to nobody): nothing is left in /dev/shm or
// under the lock-directory root (RootLockBase(): /run/fc, or /dev/shm/fc
// where /run is not a tmpfs).
TEST(DefaultsTest, ASigtermDuringStartUpLeavesNothingBehind) {
  if (::geteuid() != 0 || std::getenv("RUNTIME_DIRECTORY") != nullptr) GTEST_SKIP() << "needs root and fc's default lock base";
  TempDir root;
  ASSERT_EQ(::chmod(root.path().c_str(), 0755), 0);
  WriteFile(root / "a.bin", 5000, 1);
  ASSERT_EQ(::chmod((root / "a.bin").c_str(), 0644), 0);
  std::mt19937 rng(static_cast<uint32_t>(::getpid()));
  for (int i = 0; i < 10; ++i) {
    const std::string name = "fc-startstop-" + std::to_string(::getpid()) + "-" + std::to_string(i);
    const int delay_ms = static_cast<int>(rng() % 700);
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      const int null = ::open("/dev/null", O_WRONLY);
      ::dup2(null, 1);
      ::dup2(null, 2);
      const std::string bin = MasterBin();
      ::execl(bin.c_str(), bin.c_str(), "--root", root.path().c_str(), "--port", "0", "--cache-size", "1G",
              "--shm-name", name.c_str(), "--workers", "2", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    int status = 0;
    ASSERT_TRUE(WaitUntil([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 20'000))
        << "SIGTERM " << delay_ms << " ms into the start";
    // A clean stop; or, for a signal before fc-master's main() could block it
    // (this test's child before its exec, the loader, a sanitizer's start-up),
    // the default death, when nothing exists yet: what matters is below.
    EXPECT_TRUE((WIFEXITED(status) && WEXITSTATUS(status) == 0) || (WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM))
        << "SIGTERM " << delay_ms << " ms into the start: status " << status;
    EXPECT_FALSE(FileExists("/dev/shm/" + name)) << "SIGTERM " << delay_ms << " ms into the start";
    EXPECT_FALSE(FileExists(RootLockBase() + "/nobody/" + name + ".locks")) << "SIGTERM " << delay_ms << " ms into the start";
    if (FileExists("/dev/shm/" + name)) ::unlink(("/dev/shm/" + name).c_str());
  }
}

// A master that ran as nobody and was SIGKILLed leaves a segment owned by
// nobody; fc-shmdump --gc as root finds it and removes it as its owner.
TEST(DefaultsTest, GcAsRootFindsTheLeftoversOfAMasterThatRanAsAnotherUser) {
  if (::geteuid() != 0 || std::getenv("RUNTIME_DIRECTORY") != nullptr) GTEST_SKIP() << "needs root and fc's default lock base";
  TempDir root;
  ASSERT_EQ(::chmod(root.path().c_str(), 0755), 0);
  const std::string name = "fc-gcuser-" + std::to_string(::getpid());
  Server server(root.path(), {"--user", "nobody", "--shm-name", name});
  ASSERT_TRUE(server.started()) << server.Log();
  const std::string lock_dir = server.LockDir();
  ASSERT_FALSE(lock_dir.empty()) << server.Log();
  struct stat st;
  ASSERT_EQ(::stat(("/dev/shm/" + name).c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  const std::vector<pid_t> workers = server.WorkerPids();
  server.Kill();
  ASSERT_TRUE(WaitUntil([&] {
    for (pid_t w : workers) if (::kill(w, 0) == 0) return false;
    return true;
  }, 10'000));
  ToolResult listed = RunTool({ShmdumpBin(), "--gc"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("/dev/shm/" + name), std::string::npos) << listed.out;
  // Only this test's: other tests running in parallel may still need theirs.
  ToolResult removed = RunTool({ShmdumpBin(), "--gc", "--remove", "--shm-name", name});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_FALSE(FileExists("/dev/shm/" + name)) << removed.out;
  EXPECT_FALSE(FileExists(lock_dir)) << removed.out;
  EXPECT_EQ(::geteuid(), 0u);
}

}  // namespace
}  // namespace fc::testing
