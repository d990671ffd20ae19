// LoadLocks against a real lock directory: the pool's descriptors stay open
// (a load costs no path lookup), a slot excludes the other threads of its
// process as well as other processes, and a directory removed from under it
// is recreated with the lock taken on the file now there.
#include "load_locks.h"

#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "fc/base/clock.h"

namespace fc::worker {
namespace {

int64_t In(int64_t ms) { return MonotonicNowNs() + ms * 1'000'000; }

size_t CountEntries(const std::string& dir) {
  size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++n;
  }
  return n;
}

class LoadLocksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/fc-load-locks-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = dir;
    ASSERT_EQ(::mkdir((dir_ + "/locks").c_str(), 0700), 0);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string locks_dir() const { return dir_ + "/locks"; }
  // Two names that share one pool file.
  static std::pair<std::string, std::string> SharingPair(const LoadLocks& locks) {
    const uint32_t slot = locks.PoolIndex("a0");
    for (int i = 1;; ++i) {
      std::string other = "a" + std::to_string(i);
      if (locks.PoolIndex(other) == slot) return {"a0", other};
    }
  }
  std::string dir_;
};

// After the first load of each pool file, more loads open nothing: the
// process's descriptors grow by at most the pool (plus the directory), and
// the directory by at most the pool's files.
TEST_F(LoadLocksTest, LoadsReuseThePoolsDescriptors) {
  LoadLocks locks(locks_dir(), 7);
  const size_t fds_before = CountEntries("/proc/self/fd");
  std::string error;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 2000; ++i) {
      LoadLocks::Held held;
      ASSERT_EQ(locks.Acquire("file-" + std::to_string(i), In(1000), &held, &error), LoadLocks::Outcome::kHeld)
          << error;
    }
    EXPECT_LE(CountEntries("/proc/self/fd"), fds_before + LoadLocks::kPoolSize + 1) << "round " << round;
  }
  EXPECT_EQ(CountEntries(locks_dir()), size_t{LoadLocks::kPoolSize});
}

// One descriptor per pool file is one flock owner for the process, so the
// threads of a process must still take a shared file in turn.
TEST_F(LoadLocksTest, ThreadsOfOneProcessTakeASharedFileInTurn) {
  LoadLocks locks(locks_dir(), 7);
  const auto [first, second] = SharingPair(locks);
  std::atomic<int> inside{0};
  std::atomic<int> most{0};
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        LoadLocks::Held held;
        std::string error;
        if (locks.Acquire(t % 2 ? first : second, In(5000), &held, &error) != LoadLocks::Outcome::kHeld) continue;
        const int now = ++inside;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        --inside;
        ++taken;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(most.load(), 1) << "two threads held one pool file at once";
  EXPECT_EQ(taken.load(), 200);
}

// A lock held here stops another process until its deadline, and a lock
// released here lets it in (flock on the kept descriptor, seen across processes).
TEST_F(LoadLocksTest, AHeldFileStopsAnotherProcessUntilReleased) {
  LoadLocks locks(locks_dir(), 7);
  const auto [first, second] = SharingPair(locks);
  LoadLocks::Held held;
  std::string error;
  ASSERT_EQ(locks.Acquire(first, In(1000), &held, &error), LoadLocks::Outcome::kHeld) << error;
  const auto try_in_child = [&](const std::string& name, int64_t wait_ms) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      LoadLocks child(locks_dir(), 7);  // its own, as each worker has
      LoadLocks::Held h;
      std::string e;
      ::_exit(static_cast<int>(child.Acquire(name, In(wait_ms), &h, &e)));
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  EXPECT_EQ(try_in_child(second, 100), static_cast<int>(LoadLocks::Outcome::kTimedOut));
  held.Release();
  EXPECT_EQ(try_in_child(second, 100), static_cast<int>(LoadLocks::Outcome::kHeld));
  // Taken again here: the kept descriptor locks once more.
  ASSERT_EQ(locks.Acquire(second, In(1000), &held, &error), LoadLocks::Outcome::kHeld) << error;
  EXPECT_EQ(try_in_child(first, 100), static_cast<int>(LoadLocks::Outcome::kTimedOut));
}

// The directory removed under a process that keeps its pool files open: the
// next load recreates it and locks the file there now, which another process
// then finds held (not a stale, unlinked file that nobody else sees).
TEST_F(LoadLocksTest, ARemovedDirectoryIsRecreatedAndLockedAnew) {
  LoadLocks locks(locks_dir(), 7);
  std::string error;
  {
    LoadLocks::Held held;
    ASSERT_EQ(locks.Acquire("x", In(1000), &held, &error), LoadLocks::Outcome::kHeld) << error;
  }
  std::filesystem::remove_all(locks_dir());
  LoadLocks::Held held;
  ASSERT_EQ(locks.Acquire("x", In(1000), &held, &error), LoadLocks::Outcome::kHeld) << error;
  struct stat st;
  ASSERT_EQ(::stat((locks_dir() + "/" + locks.FileName("x")).c_str(), &st), 0) << "the file was not recreated";
  const pid_t pid = ::fork();
  if (pid == 0) {
    LoadLocks child(locks_dir(), 7);
    LoadLocks::Held h;
    std::string e;
    ::_exit(static_cast<int>(child.Acquire("x", In(100), &h, &e)));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), static_cast<int>(LoadLocks::Outcome::kTimedOut));
}

}  // namespace
}  // namespace fc::worker
