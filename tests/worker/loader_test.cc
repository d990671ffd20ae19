// LoaderPool::TryLoadNow, the event loop's inline miss, against a real segment,
// real lock files and real files on disk: it loads when nothing would wait, and
// hands the task back untouched when the load lock is held or the bytes are not
// in the page cache.
#include "loader.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "fc/base/checksum.h"
#include "fc/base/clock.h"
#include "fc/shm_cache/cache.h"
#include "load_locks.h"

namespace fc::worker {
namespace {

// TryLoadNow's result into *out; false when it would have waited.
bool LoadNow(LoaderPool& pool, LoadTask& task, LoadResult* out) {
  std::optional<LoadResult> result = pool.TryLoadNow(task);
  if (!result) return false;
  *out = std::move(*result);
  return true;
}

class LoaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static std::atomic<int> counter{0};
    shm_name_ = "fc-loader-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    // On the disk the tests run from (not a tmpfs, whose pages cannot be dropped).
    char dir[] = "fc-loader-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    dir_ = std::filesystem::absolute(dir).string();
    ASSERT_EQ(::mkdir((dir_ + "/locks").c_str(), 0700), 0);
    shm_cache::CacheOptions o;
    o.shm_name = shm_name_;
    o.segment_size = 8 << 20;
    o.packet_size = 1024;
    o.policy = shm_cache::Policy::kLru;
    auto created = shm_cache::ShmCache::Create(o);
    ASSERT_TRUE(created.ok()) << created.status().message();
    cache_ = std::move(created.value());
    ASSERT_TRUE(cache_->AttachWorker(0).ok());
    locks_ = std::make_unique<LoadLocks>(dir_ + "/locks", 42);
    pool_ = std::make_unique<LoaderPool>(*cache_, *locks_, 1000, 1);
  }
  void TearDown() override {
    pool_.reset();
    if (cache_) {
      EXPECT_EQ(cache_->Check(1000), std::vector<std::string>{});
      const shm_cache::Snapshot snap = cache_->TakeSnapshot(1000);
      EXPECT_EQ(snap.free + snap.used, snap.capacity);  // an aborted reservation leaks nothing
    }
    cache_.reset();
    shm_cache::ShmCache::Remove(shm_name_);
    std::filesystem::remove_all(dir_);
  }
  // Writes `size` bytes to `name` and returns their checksum.
  uint64_t Write(const std::string& name, size_t size) {
    std::string bytes(size, '\0');
    for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(i * 131 + 7);
    const int fd = ::open((dir_ + "/" + name).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(::write(fd, bytes.data(), size), static_cast<ssize_t>(size));
    ::fsync(fd);
    ::close(fd);
    Checksum64 hash;
    hash.Update(bytes.data(), size);
    return hash.Digest();
  }
  LoadTask Task(const std::string& name) {
    LoadTask task;
    task.name = name;
    task.fd = SharedFd(UniqueFd(::open((dir_ + "/" + name).c_str(), O_RDONLY | O_CLOEXEC)));
    struct stat st;
    EXPECT_EQ(::fstat(task.fd.get(), &st), 0);
    task.identity = {static_cast<uint64_t>(st.st_size), Nanoseconds(st.st_mtim), st.st_ino, st.st_dev,
                     Nanoseconds(st.st_ctim)};
    return task;
  }

  std::string shm_name_, dir_;
  std::unique_ptr<shm_cache::ShmCache> cache_;
  std::unique_ptr<LoadLocks> locks_;
  std::unique_ptr<LoaderPool> pool_;
};

TEST_F(LoaderTest, AFileInThePageCacheLoadsOnTheCallingThread) {
  const uint64_t sum = Write("warm.bin", 10'000);
  LoadTask task = Task("warm.bin");
  char byte;
  ASSERT_EQ(::pread(task.fd.get(), &byte, 1, 0), 1);  // (written just now: in the page cache)
  LoadResult result;
  ASSERT_TRUE(LoadNow(*pool_, task, &result));
  EXPECT_EQ(result.kind, LoadResult::Kind::kCached);
  EXPECT_EQ(result.how, Outcome::kMiss) << OutcomeName(result.how);
  EXPECT_EQ(result.pin.checksum(), sum);
  result.pin.Release();
  shm_cache::PinnedEntry again = cache_->Lookup("warm.bin", task.identity).value();
  ASSERT_TRUE(again.valid());
  EXPECT_EQ(again.size(), 10'000u);
}

// Names whose loads share a lock file of the pool only wait for each other:
// loaded concurrently by two pools (two workers' loaders) and several threads,
// each name is loaded once and every reply is whole.
TEST_F(LoaderTest, NamesThatShareALockFileAreEachLoadedOnceAndServedWhole) {
  std::vector<std::string> names;
  const uint32_t slot = locks_->PoolIndex("shared-0.bin");
  for (int i = 1; names.size() < 3; ++i) {
    const std::string name = "shared-" + std::to_string(i) + ".bin";
    if (locks_->PoolIndex(name) == slot) names.push_back(name);
  }
  names.push_back("shared-0.bin");
  std::map<std::string, uint64_t> sums;
  for (const std::string& name : names) {
    sums[name] = Write(name, 300'000);  // above the inline limit: loaded by a loader thread
    ASSERT_EQ(locks_->FileName(name), locks_->FileName("shared-0.bin"));
  }
  LoaderPool other(*cache_, *locks_, 5000, 2);
  LoaderPool mine(*cache_, *locks_, 5000, 2);
  std::mutex mu;
  std::map<std::string, int> misses;
  std::vector<std::future<void>> done;
  for (int round = 0; round < 3; ++round) {
    for (const std::string& name : names) {
      for (LoaderPool* pool : {&mine, &other}) {
        auto promise = std::make_shared<std::promise<void>>();
        done.push_back(promise->get_future());
        LoadTask task = Task(name);
        task.deadline_ns = MonotonicNowNs() + 5'000'000'000LL;
        task.done = [&, name, promise](LoadResult result) {
          {
            std::lock_guard<std::mutex> lock(mu);
            EXPECT_EQ(result.kind, LoadResult::Kind::kCached) << name << " " << OutcomeName(result.how);
            if (result.kind == LoadResult::Kind::kCached) {
              EXPECT_EQ(result.pin.checksum(), sums[name]) << name;
              EXPECT_EQ(result.pin.size(), 300'000u) << name;
              // The bytes themselves, read back from the packets.
              shm_cache::PacketReader reader(*cache_, result.pin, 0);
              Checksum64 hash;
              iovec iov[64];
              while (reader.remaining() > 0) {
                const int n = reader.Fill(iov, 64, 1 << 20);
                size_t bytes = 0;
                for (int k = 0; k < n; ++k) {
                  hash.Update(iov[k].iov_base, iov[k].iov_len);
                  bytes += iov[k].iov_len;
                }
                reader.Advance(bytes);
              }
              EXPECT_EQ(hash.Digest(), sums[name]) << name;
            }
            if (result.how == Outcome::kMiss) ++misses[name];
            result.pin.Release();
          }
          promise->set_value();
        };
        pool->Submit(std::move(task));
      }
    }
  }
  for (auto& f : done) ASSERT_EQ(f.wait_for(std::chrono::seconds(30)), std::future_status::ready);
  for (const std::string& name : names) EXPECT_EQ(misses[name], 1) << name << " loaded once";
}

// Pages of `path` in the kernel's page cache (mincore over a mapping).
size_t ResidentPages(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || ::fstat(fd, &st) != 0 || st.st_size == 0) return 0;
  void* map = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return 0;
  const size_t pages = (static_cast<size_t>(st.st_size) + 4095) / 4096;
  std::vector<unsigned char> in(pages);
  size_t resident = 0;
  if (::mincore(map, static_cast<size_t>(st.st_size), in.data()) == 0) {
    for (unsigned char v : in) resident += v & 1;
  }
  ::munmap(map, static_cast<size_t>(st.st_size));
  return resident;
}

// No double caching: once a file's bytes are in the segment its pages leave
// the page cache (--page-cache drop, the default); with keep they stay.
TEST_F(LoaderTest, ALoadedFilesPagesLeaveThePageCache) {
  const uint64_t sum = Write("dropped.bin", 200'000);
  Write("kept.bin", 200'000);
  for (const char* name : {"dropped.bin", "kept.bin"}) {
    LoadTask task = Task(name);
    std::string bytes(200'000, '\0');
    ASSERT_EQ(::pread(task.fd.get(), bytes.data(), bytes.size(), 0), 200'000);  // all in the page cache
  }
  ASSERT_EQ(ResidentPages(dir_ + "/dropped.bin"), 49u);
  ASSERT_EQ(ResidentPages(dir_ + "/kept.bin"), 49u);
  LoadTask task = Task("dropped.bin");
  LoadResult result;
  ASSERT_TRUE(LoadNow(*pool_, task, &result));
  ASSERT_EQ(result.kind, LoadResult::Kind::kCached);
  EXPECT_EQ(result.pin.checksum(), sum);
  result.pin.Release();
  EXPECT_EQ(ResidentPages(dir_ + "/dropped.bin"), 0u) << "the segment holds the bytes; the page cache does not";
  LoaderPool keeping(*cache_, *locks_, 1000, 1, /*drop_loaded_pages=*/false);
  LoadTask kept = Task("kept.bin");
  ASSERT_TRUE(LoadNow(keeping, kept, &result));
  ASSERT_EQ(result.kind, LoadResult::Kind::kCached);
  result.pin.Release();
  EXPECT_EQ(ResidentPages(dir_ + "/kept.bin"), 49u) << "--page-cache keep";
}

TEST_F(LoaderTest, AHeldLoadLockHandsTheTaskBackUntouched) {
  Write("locked.bin", 4096);
  LoadLocks::Held held;
  std::string error;
  ASSERT_EQ(locks_->Acquire("locked.bin", MonotonicNowNs() + 1'000'000'000, &held, &error), LoadLocks::Outcome::kHeld);
  LoadTask task = Task("locked.bin");
  const int fd = task.fd.get();
  LoadResult result;
  EXPECT_FALSE(LoadNow(*pool_, task, &result));
  EXPECT_EQ(task.fd.get(), fd);  // still the caller's, to Submit
  EXPECT_FALSE(cache_->Lookup("locked.bin", task.identity).value().valid());
  // Released, the same task loads.
  held.Release();
  ASSERT_TRUE(LoadNow(*pool_, task, &result));
  EXPECT_EQ(result.kind, LoadResult::Kind::kCached);
}

TEST_F(LoaderTest, BytesNotInThePageCacheHandTheTaskBackAndTheLoaderLoadsThem) {
  const uint64_t sum = Write("cold.bin", 200'000);
  LoadTask task = Task("cold.bin");
  ASSERT_EQ(::posix_fadvise(task.fd.get(), 0, 0, POSIX_FADV_DONTNEED), 0);
  char probe[4096];
  iovec iov{probe, sizeof(probe)};
  if (::preadv2(task.fd.get(), &iov, 1, 100'000, RWF_NOWAIT) >= 0 || errno != EAGAIN) {
    GTEST_SKIP() << "this filesystem keeps the pages (tmpfs?): nothing can be cold here";
  }
  LoadResult result;
  EXPECT_FALSE(LoadNow(*pool_, task, &result));
  EXPECT_TRUE(task.fd.valid());
  EXPECT_FALSE(cache_->Lookup("cold.bin", task.identity).value().valid());  // the reservation was undone
  // The loader thread waits for the disk and loads it.
  std::promise<LoadResult> done;
  task.done = [&done](LoadResult r) { done.set_value(std::move(r)); };
  pool_->Submit(std::move(task));
  LoadResult loaded = done.get_future().get();
  EXPECT_EQ(loaded.kind, LoadResult::Kind::kCached);
  EXPECT_EQ(loaded.pin.checksum(), sum);
}

// A file too large for the cache is hashed for its X-Fc-Checksum once for the
// whole server: a second worker (a second pool on the same segment) takes the
// checksum from the segment. Shown by handing the second pool a task with the
// first file's identity but a descriptor of another file of the same size:
// it answers with the first file's checksum, so it did not read.
TEST_F(LoaderTest, AStreamedFileIsHashedOnceForEveryWorker) {
  const uint64_t sum = Write("big.bin", 10 << 20);  // the segment is 8 MiB
  // Another file of the same size with other bytes.
  Write("other.bin", 10 << 20);
  {
    const int fd = ::open((dir_ + "/other.bin").c_str(), O_WRONLY);
    ASSERT_EQ(::pwrite(fd, "changed", 7, 0), 7);
    ::close(fd);
  }
  // Past the racy window (loader.cc): a file changed just now is not memoised.
  ::usleep(150'000);
  LoadTask first = Task("big.bin");
  LoadResult a;
  ASSERT_TRUE(LoadNow(*pool_, first, &a));
  ASSERT_EQ(a.kind, LoadResult::Kind::kStream);
  EXPECT_EQ(a.checksum, sum);

  LoaderPool second_worker(*cache_, *locks_, 1000, 1);
  LoadTask again = Task("other.bin");
  again.identity = first.identity;  // the descriptor reads other bytes
  LoadResult b;
  ASSERT_TRUE(LoadNow(second_worker, again, &b));
  EXPECT_EQ(b.kind, LoadResult::Kind::kStream);
  EXPECT_EQ(b.checksum, sum) << "the second worker hashed the file again";
  // A real change (a new ctime) is hashed anew.
  ASSERT_EQ(::utimensat(AT_FDCWD, (dir_ + "/big.bin").c_str(), nullptr, 0), 0);
  LoadTask changed = Task("big.bin");
  EXPECT_FALSE(changed.identity == first.identity);
  LoadTask changed_other = Task("other.bin");
  changed_other.identity = changed.identity;
  LoadResult c;
  ASSERT_TRUE(LoadNow(second_worker, changed_other, &c));
  EXPECT_NE(c.checksum, sum) << "a new identity is hashed, not looked up";
}

// A file changed within the inode clock's granularity of now could change
// again without a new ctime: its checksum is not memoised until it is past.
TEST_F(LoaderTest, AFileChangedJustNowIsNotMemoised) {
  const uint64_t sum = Write("fresh.bin", 10 << 20);
  LoadTask first = Task("fresh.bin");
  LoadResult a;
  ASSERT_TRUE(LoadNow(*pool_, first, &a));
  ASSERT_EQ(a.kind, LoadResult::Kind::kStream);
  EXPECT_EQ(a.checksum, sum);
  uint64_t memo = 0;
  EXPECT_FALSE(cache_->FindStreamChecksum(first.identity, &memo)) << "memoised while racy";
}

}  // namespace
}  // namespace fc::worker
