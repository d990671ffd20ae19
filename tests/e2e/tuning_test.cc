// The throughput settings of issue 13 against the real server: the workers'
// CPU scheduling policy (--scheduling) and the stat memo (--revalidate-after).
#include <dirent.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "fc/base/checksum.h"
#include "harness.h"

namespace fc::testing {
namespace {

// The slice a thread asked for (sched_attr.sched_runtime; Linux 6.12+ reports
// the slice in force for SCHED_OTHER/BATCH), or -1.
int64_t SliceNs(pid_t tid) {
  struct {
    uint32_t size, policy;
    uint64_t flags;
    int32_t nice;
    uint32_t priority;
    uint64_t runtime, deadline, period;
  } attr{};
  if (::syscall(SYS_sched_getattr, tid, &attr, sizeof(attr), 0) != 0) return -1;
  return static_cast<int64_t>(attr.runtime);
}

// The threads of `pid`, from /proc.
std::vector<pid_t> Threads(pid_t pid) {
  std::vector<pid_t> tids;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return tids;
  while (dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') tids.push_back(std::stoi(e->d_name));
  }
  ::closedir(d);
  return tids;
}

// The policy of every thread of `pid` (SCHED_OTHER, SCHED_BATCH, ...).
std::vector<int> ThreadPolicies(pid_t pid) {
  std::vector<int> policies;
  for (pid_t tid : Threads(pid)) {
    const int policy = ::sched_getscheduler(tid);
    if (policy >= 0) policies.push_back(policy);
  }
  return policies;
}

HttpResponse Get(uint16_t port, const std::string& path) {
  RawConnection conn(port);
  HttpResponse r;
  EXPECT_TRUE(conn.Send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_TRUE(ReadHttpResponse(conn, &r)) << path;
  return r;
}

TEST(TuningTest, WorkersRunSchedBatchByDefaultAndSchedOtherOnRequest) {
  TempDir root;
  WriteText(root / "a.txt", "a");
  for (const char* setting : {"", "normal"}) {
    std::vector<std::string> args;
    if (*setting != 0) args = {"--scheduling", setting};
    Server server(root.path(), args);
    ASSERT_TRUE(server.started());
    ASSERT_EQ(Get(server.port(), "/a.txt").status, 200);
    const int expected = *setting != 0 ? SCHED_OTHER : SCHED_BATCH;
    const std::vector<pid_t> workers = server.WorkerPids();
    ASSERT_EQ(workers.size(), 2u);
    for (pid_t worker : workers) {
      // The main thread, 2 loops, 2 loaders at least (a worker may still be
      // starting; it turns SCHED_BATCH once it serves).
      std::vector<int> policies;
      EXPECT_TRUE(WaitUntil([&] {
        policies = ThreadPolicies(worker);
        return policies.size() >= 5 && std::count(policies.begin(), policies.end(), expected) ==
                                           static_cast<long>(policies.size());
      }, 5000)) << policies.size() << " threads in worker " << worker;
      for (int policy : policies) EXPECT_EQ(policy, expected) << "worker " << worker << " " << setting;
    }
    // The master keeps the default policy: it only supervises (what it forks
    // starts at the defaults: SCHED_RESET_ON_FORK).
    EXPECT_EQ(::sched_getscheduler(server.pid()), SCHED_OTHER | SCHED_RESET_ON_FORK);
  }
  EXPECT_EQ(RunTool({MasterBin(), "--root", root.path(), "--scheduling", "fifo"}).exit_code, 2);
}

// A death is replaced at once only if the master and the standby wake at
// once on a busy machine: both wait with a short slice (sched.h), and
// nothing else of fc does.
TEST(TuningTest, TheMasterAndTheStandbyWaitWithShortSlicesAndWorkersServeWithTheDefault) {
  const int64_t base = SliceNs(::getpid());
  if (base <= 0 || base == 100'000) GTEST_SKIP() << "this kernel reports no fair slice (Linux < 6.12)";
  TempDir root;
  WriteText(root / "a.txt", "a");
  Server server(root.path());
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(WaitUntil([&] { return server.StandbyPid() != 0; }, 5000));
  EXPECT_EQ(SliceNs(server.pid()), 100'000) << "the master's loop";
  // The standby's main thread waits short; the threads it made (loaders) do not.
  const pid_t standby = server.StandbyPid();
  EXPECT_TRUE(WaitUntil([&] { return SliceNs(standby) == 100'000; }, 5000));
  const std::vector<pid_t> standby_threads = Threads(standby);
  EXPECT_GE(std::count_if(standby_threads.begin(), standby_threads.end(),
                          [&](pid_t t) { return t != standby && SliceNs(t) == base; }),
            2)
      << "its two loader threads";
  // Activated by a death, it serves with the default slice on every thread.
  const std::vector<pid_t> before = server.WorkerPids();
  ASSERT_FALSE(before.empty());
  ::kill(before[0], SIGKILL);
  ASSERT_GE(server.WaitForWorkers(before.size(), {before[0]}, 5000), 0);
  ASSERT_EQ(Get(server.port(), "/a.txt").status, 200);
  for (pid_t worker : server.WorkerPids()) {
    std::vector<pid_t> tids;
    EXPECT_TRUE(WaitUntil([&] {
      tids = Threads(worker);
      return tids.size() >= 5 && std::all_of(tids.begin(), tids.end(), [&](pid_t t) { return SliceNs(t) == base; });
    }, 5000)) << "worker " << worker;
  }
}

TEST(TuningTest, RevalidateAfterServesTheCheckedVersionUntilTheIntervalEnds) {
  TempDir root;
  WriteText(root / "a.txt", "version one\n");
  // One loop, so every request sees the same memo.
  constexpr int kIntervalMs = 3000 * kTimeFactor;
  Server server(root.path(), {"--workers", "1", "--threads", "1", "--revalidate-after",
                              std::to_string(kIntervalMs)});
  ASSERT_TRUE(server.started());
  const auto checked = std::chrono::steady_clock::now();
  ASSERT_EQ(Get(server.port(), "/a.txt").body, "version one\n");
  ASSERT_EQ(Get(server.port(), "/a.txt").Header("X-Fc-Served"), "cache");
  WriteText(root / "a.txt", "version two, longer\n");
  // Within the interval: the version checked last (nginx's open_file_cache_valid).
  const HttpResponse stale = Get(server.port(), "/a.txt");
  const auto elapsed = std::chrono::steady_clock::now() - checked;
  if (elapsed < std::chrono::milliseconds(kIntervalMs)) {
    EXPECT_EQ(stale.body, "version one\n");
  }
  // Then the file is checked again and the new version served.
  HttpResponse fresh;
  EXPECT_TRUE(WaitUntil([&] { return (fresh = Get(server.port(), "/a.txt")).body == "version two, longer\n"; },
                        kIntervalMs + 3000));
  EXPECT_GE(std::chrono::steady_clock::now() - checked, std::chrono::milliseconds(kIntervalMs));
  // A file removed is a 404 once the interval has passed.
  ::unlink((root / "a.txt").c_str());
  EXPECT_TRUE(WaitUntil([&] { return Get(server.port(), "/a.txt").status == 404; }, kIntervalMs + 3000));
  EXPECT_EQ(RunTool({MasterBin(), "--root", root.path(), "--revalidate-after", "-1"}).exit_code, 2);
}

TEST(TuningTest, WithRevalidateAfterAnUploadThroughFcIsServedAtOnceByEveryWorker) {
  TempDir root;
  WriteText(root / "a.txt", "version one\n");
  Server server(root.path(), {"--workers", "2", "--revalidate-after", "600000", "--allow-upload"});
  ASSERT_TRUE(server.started());
  // Cached, and its stat remembered by the loops that served it.
  for (int i = 0; i < 8; ++i) ASSERT_EQ(Get(server.port(), "/a.txt").body, "version one\n");
  RawConnection put(server.port());
  const std::string body = "version two, longer\n";
  ASSERT_TRUE(put.Send("PUT /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
                       "\r\n\r\n" + body));
  HttpResponse stored;
  ASSERT_TRUE(ReadHttpResponse(put, &stored));
  ASSERT_EQ(stored.status, 201) << stored.head;
  for (int i = 0; i < 8; ++i) EXPECT_EQ(Get(server.port(), "/a.txt").body, body) << "request " << i;
}

TEST(TuningTest, WithoutRevalidateAfterAChangeIsServedAtOnce) {
  TempDir root;
  WriteText(root / "a.txt", "version one\n");
  Server server(root.path(), {"--workers", "1", "--threads", "1"});
  ASSERT_TRUE(server.started());
  ASSERT_EQ(Get(server.port(), "/a.txt").body, "version one\n");
  ASSERT_EQ(Get(server.port(), "/a.txt").Header("X-Fc-Served"), "cache");
  WriteText(root / "a.txt", "version two, longer\n");
  EXPECT_EQ(Get(server.port(), "/a.txt").body, "version two, longer\n");
}

// How many of `pid`'s descriptors are open on `path` (as /proc shows them: a
// removed file's link ends in " (deleted)").
int DescriptorsOn(pid_t pid, const std::string& path) {
  int n = 0;
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d)) {
    char target[4096];
    const ssize_t len = ::readlinkat(::dirfd(d), e->d_name, target, sizeof(target) - 1);
    if (len <= 0) continue;
    const std::string link(target, static_cast<size_t>(len));
    if (link == path || link == path + " (deleted)") ++n;
  }
  ::closedir(d);
  return n;
}

// --open-files: misses of a file that is streamed (larger than the cache)
// share one kept descriptor per worker; a changed or replaced file is opened
// afresh and its old descriptor closed; a removed one is a 404 and leaves no
// descriptor behind; 0 keeps none.
TEST(TuningTest, MissesShareOneKeptDescriptorUntilTheFileChanges) {
  TempDir root;
  const std::string path = std::filesystem::canonical(root.path()).string() + "/big.bin";
  WriteFile(path, 3 << 20, 1);
  Server server(root.path(), {"--workers", "1", "--threads", "2", "--cache-size", "1M"});
  ASSERT_TRUE(server.started());
  const pid_t worker = server.WorkerPids().at(0);
  const auto get_all = [&](const std::string& expected_source) {
    const uint64_t sum = FileChecksum(expected_source);
    for (int i = 0; i < 6; ++i) {
      const HttpResponse r = Get(server.port(), "/big.bin");
      ASSERT_EQ(r.Header("X-Fc-Served"), "disk") << r.head;
      ASSERT_EQ(Checksum64::Of(r.body.data(), r.body.size()), sum) << "request " << i;
    }
  };
  get_all(path);
  EXPECT_TRUE(WaitUntil([&] { return DescriptorsOn(worker, path) == 1; }, 3000))
      << "six misses on two loops, one descriptor: " << DescriptorsOn(worker, path);
  // Replaced by a rename (another inode, the same size): the new bytes, and
  // the old file's descriptor is closed.
  WriteFile(root / "new.bin", 3 << 20, 2);
  ASSERT_EQ(::rename((root / "new.bin").c_str(), path.c_str()), 0);
  get_all(path);
  EXPECT_TRUE(WaitUntil([&] { return DescriptorsOn(worker, path) == 1; }, 3000)) << DescriptorsOn(worker, path);
  // Rewritten in place (the same inode, a new size): the new bytes.
  WriteFile(path, (3 << 20) + 5, 3);
  get_all(path);
  // Removed: a 404, and the kept descriptor goes with it.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_EQ(Get(server.port(), "/big.bin").status, 404);
  EXPECT_TRUE(WaitUntil([&] { return DescriptorsOn(worker, path) == 0; }, 3000)) << DescriptorsOn(worker, path);

  WriteFile(path, 3 << 20, 4);
  Server none(root.path(), {"--workers", "1", "--cache-size", "1M", "--open-files", "0"});
  ASSERT_TRUE(none.started());
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Get(none.port(), "/big.bin").status, 200);
  EXPECT_TRUE(WaitUntil([&] { return DescriptorsOn(none.WorkerPids().at(0), path) == 0; }, 3000))
      << "--open-files 0 keeps none";
  EXPECT_EQ(RunTool({MasterBin(), "--root", root.path(), "--open-files", "-1"}).exit_code, 2);
}

// Found by the benchmark: --quiet silently won over --access-log FILE, so a
// "logging on" run logged nothing.
TEST(TuningTest, QuietAndAnAccessLogFileContradictEachOther) {
  TempDir root;
  const ToolResult r =
      RunTool({MasterBin(), "--root", root.path(), "--port", "0", "--quiet", "--access-log", root / "access.log"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--quiet turns the access log off, but --access-log asks for"), std::string::npos) << r.err;
  EXPECT_FALSE(FileExists(root / "access.log"));
}

}  // namespace
}  // namespace fc::testing
