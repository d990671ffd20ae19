// Crash a worker: SIGKILL the worker that is streaming a 52 MB cached file. The
// master replaces it within 1 s, the other clients finish with correct bytes,
// no reader count is left behind, and the cache keeps serving.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "harness.h"

namespace fc::testing {
namespace {

TEST(CrashTest, WorkerKilledMidStreamLeavesNoPinAndOthersFinishCorrectly) {
  TempDir root, out;
  WriteFile(root / "big.bin", 52'400'000, 5);
  WriteFile(root / "small.bin", 200'000, 6);
  const uint64_t big_sum = FileChecksum(root / "big.bin");
  const uint64_t small_sum = FileChecksum(root / "small.bin");
  Server server(root.path(), {"--workers", "2"});
  ASSERT_TRUE(server.started());
  ASSERT_EQ(server.Client({"get", "big.bin", out.path(), "--quiet"}).exit_code, 0);  // cache it

  // A client that reads the header and 1 MB, then stalls: its worker holds a pin
  // and is mid-send when it dies.
  RawConnection stalled(server.port());
  ASSERT_TRUE(stalled.Send(RawConnection::GetRequest("big.bin")));
  std::string prefix;
  ASSERT_TRUE(stalled.ReadExactly(protocol::kReplyHeaderSize + (1 << 20), &prefix));

  // Which worker serves it: the one whose slot holds a pin.
  pid_t victim = 0;
  for (int i = 0; i < 100 && victim == 0; ++i) {
    ToolResult dump = server.Shmdump({"--json"});
    const auto pids = JsonValues(dump.out, "pid");
    const auto pins = JsonValues(dump.out, "pins");
    for (size_t k = 0; k < pins.size() && k < pids.size(); ++k) {
      if (pins[k] != "0") victim = std::stoi(pids[k]);
    }
    if (victim == 0) ::usleep(10'000);
  }
  ASSERT_NE(victim, 0) << "no worker holds a pin";

  // Other clients fetch while the kill happens.
  std::atomic<int> failures{0};
  std::vector<std::thread> others;
  for (int c = 0; c < 4; ++c) {
    others.emplace_back([&, c] {
      TempDir dir;
      for (int i = 0; i < 3; ++i) {
        const std::string name = (c + i) % 2 ? "big.bin" : "small.bin";
        ToolResult r = server.Client({"get", name, dir.path(), "--quiet"}, 60'000);
        if (r.exit_code != 0 || FileChecksum(dir / name) != (name == "big.bin" ? big_sum : small_sum)) {
          ++failures;
          ADD_FAILURE() << "client " << c << " " << name << ": " << r.err;
        }
      }
    });
  }
  ::usleep(20'000);
  ASSERT_EQ(::kill(victim, SIGKILL), 0);
  const int replaced_ms = server.WaitForWorkers(2, {victim}, 5000);
  for (auto& t : others) t.join();
  EXPECT_GE(replaced_ms, 0);
  EXPECT_LT(replaced_ms, 1000 * kTimeFactor) << "replacement took " << replaced_ms << " ms";
  EXPECT_EQ(failures.load(), 0);

  // The stalled client sees a cut connection, never wrong bytes: whatever it
  // still gets is a prefix of the file.
  std::string rest;
  stalled.ReadExactly(60'000'000, &rest);
  EXPECT_LT(prefix.size() - protocol::kReplyHeaderSize + rest.size(), 52'400'000u);

  // No reader count is left on any entry, and the check passes.
  ToolResult dump;
  for (int i = 0; i < 100; ++i) {  // the master reclaims right after reaping
    dump = server.Shmdump({"--json"});
    const auto readers = JsonValues(dump.out, "readers");
    if (std::all_of(readers.begin(), readers.end(), [](const std::string& r) { return r == "0"; })) break;
    ::usleep(10'000);
  }
  for (const auto& r : JsonValues(dump.out, "readers")) EXPECT_EQ(r, "0") << dump.out;
  EXPECT_GE(JsonNumber(dump.out, "reclaimed_pins"), 1u);
  ToolResult check = server.Shmdump({"--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out;
  // The cache still serves, from the cache.
  ToolResult again = server.Client({"get", "big.bin", out.path()});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("from cache"), std::string::npos);
  EXPECT_EQ(FileChecksum(out / "big.bin"), big_sum);
}

// The master replaces a worker when the first of its threads exits, without
// waiting for the whole process to be torn down and reaped (death_watch.h):
// the notice comes first in the log, the reap after it, and the cache stays
// consistent. Where the kernel has no thread pidfds (Linux < 6.9) it says so
// and replaces at the reap.
TEST(CrashTest, AWorkerIsReplacedAtItsFirstThreadsExitAndReapedAfter) {
  TempDir root, out;
  WriteText(root / "a.txt", "alpha\n");
  Server server(root.path(), {"--workers", "2"});
  ASSERT_TRUE(server.started());
  // Workers are replaced early only once they have lived a second (a younger
  // death may be a crash loop: the reap's exit status decides).
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  const std::vector<pid_t> before = server.WorkerPids();
  ASSERT_EQ(before.size(), 2u);
  ::kill(before[0], SIGKILL);
  ASSERT_GE(server.WaitForWorkers(2, {before[0]}, 5000), 0);
  const std::string dying = "(pid " + std::to_string(before[0]) + ") is dying (a thread of it exited";
  const std::string reaped = "(pid " + std::to_string(before[0]) + ") killed by signal 9";
  ASSERT_TRUE(server.WaitForLog(reaped)) << server.Log();
  const std::string log = server.Log();
  if (log.find("no thread pidfds") != std::string::npos) GTEST_SKIP() << "Linux < 6.9: replaced at the reap";
  ASSERT_NE(log.find(dying), std::string::npos) << log;
  EXPECT_LT(log.find(dying), log.find(reaped)) << log;
  EXPECT_NE(log.find("replaced already"), std::string::npos) << log;
  EXPECT_EQ(server.Client({"get", "a.txt", out.path()}).exit_code, 0);
  EXPECT_EQ(server.Shmdump({"--check"}).exit_code, 0);
  // Exactly two workers: the dying one was not replaced twice.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(server.WorkerPids().size(), 2u);
}

}  // namespace
}  // namespace fc::testing
