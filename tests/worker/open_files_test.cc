// OpenFiles with real descriptors: a kept one is found only for the identity
// it was opened with, shared with its users (dropping it never closes theirs),
// bounded by its capacity (the least recently used goes), closed once idle,
// and given back when the process runs out of descriptors.
#include "open_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>

#include "fc/base/temp_dir.h"

namespace fc::worker {
namespace {

bool IsOpen(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

class OpenFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string dir = TempDirectory() + "/fc-open-files-test-XXXXXX";
    ASSERT_NE(::mkdtemp(dir.data()), nullptr);
    dir_ = dir;
    auto files = FileSource::Open(dir_);
    ASSERT_TRUE(files.ok()) << files.status().message();
    files_ = std::make_unique<FileSource>(std::move(files).value());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Writes `name` and opens it as a miss would.
  OpenedFile Open(const std::string& name, const std::string& bytes = "bytes") {
    std::ofstream(dir_ + "/" + name) << bytes;
    OpenedFile file;
    Refusal refusal = files_->OpenFile(name, &file);
    EXPECT_TRUE(refusal.ok()) << refusal.message;
    return file;
  }

  std::string dir_;
  std::unique_ptr<FileSource> files_;
};

TEST_F(OpenFilesTest, AKeptDescriptorIsFoundOnlyForItsIdentity) {
  OpenFiles kept(8);
  const OpenedFile a = Open("a");
  kept.Keep("a", a, 1);
  OpenedFile found;
  ASSERT_TRUE(kept.Find("a", a.identity, 2, &found));
  EXPECT_EQ(found.fd.get(), a.fd.get()) << "the same descriptor, shared";
  EXPECT_TRUE(found.identity == a.identity);
  EXPECT_FALSE(kept.Find("b", a.identity, 2, &found)) << "another name";
  // The file changed (new size and mtime): the kept descriptor is stale and goes.
  shm_cache::FileIdentity changed = a.identity;
  changed.size += 1;
  EXPECT_FALSE(kept.Find("a", changed, 3, &found));
  EXPECT_EQ(kept.size(), 0u);
  // Another inode under the name (a file replaced by rename) is not the kept one either.
  kept.Keep("a", a, 4);
  shm_cache::FileIdentity other_inode = a.identity;
  other_inode.ino += 1;
  EXPECT_FALSE(kept.Find("a", other_inode, 5, &found));
  // Capacity 0 (--open-files 0) keeps none.
  OpenFiles none(0);
  none.Keep("a", a, 1);
  EXPECT_FALSE(none.Find("a", a.identity, 2, &found));
  EXPECT_EQ(none.size(), 0u);
}

TEST_F(OpenFilesTest, DroppingAKeptDescriptorLeavesItsUsersTheirs) {
  OpenFiles kept(8);
  OpenedFile reply;
  int fd = -1;
  {
    const OpenedFile a = Open("a");
    fd = a.fd.get();
    kept.Keep("a", a, 1);
    ASSERT_TRUE(kept.Find("a", a.identity, 2, &reply));
  }
  kept.Forget("a");
  EXPECT_EQ(kept.size(), 0u);
  EXPECT_TRUE(IsOpen(fd)) << "a reply still uses it";
  char byte = 0;
  EXPECT_EQ(::pread(reply.fd.get(), &byte, 1, 0), 1);
  EXPECT_EQ(byte, 'b');
  reply.fd.Reset();
  EXPECT_FALSE(IsOpen(fd)) << "closed with its last user";
}

TEST_F(OpenFilesTest, TheLeastRecentlyUsedGoesWhenFull) {
  OpenFiles kept(3);
  OpenedFile files[4] = {Open("f0"), Open("f1"), Open("f2"), Open("f3")};
  const int first_fd = files[0].fd.get();
  for (int i = 0; i < 3; ++i) kept.Keep("f" + std::to_string(i), files[i], i);
  OpenedFile found;
  ASSERT_TRUE(kept.Find("f0", files[0].identity, 10, &found));  // f1 is now the least recent
  found.fd.Reset();
  kept.Keep("f3", files[3], 11);
  EXPECT_EQ(kept.size(), 3u);
  EXPECT_FALSE(kept.Find("f1", files[1].identity, 12, &found));
  EXPECT_TRUE(kept.Find("f0", files[0].identity, 12, &found));
  EXPECT_TRUE(kept.Find("f3", files[3].identity, 12, &found));
  found.fd.Reset();
  for (OpenedFile& f : files) f.fd.Reset();
  EXPECT_TRUE(IsOpen(first_fd)) << "still kept";
}

TEST_F(OpenFilesTest, IdleDescriptorsAreClosedSoARemovedFileIsFreed) {
  OpenFiles kept(8, /*idle_ns=*/1000);
  int old_fd = -1, recent_fd = -1;
  {
    const OpenedFile old = Open("old"), recent = Open("recent");
    old_fd = old.fd.get();
    recent_fd = recent.fd.get();
    kept.Keep("old", old, 0);
    kept.Keep("recent", recent, 900);
  }
  std::filesystem::remove(dir_ + "/old");
  kept.CloseIdle(1500);
  EXPECT_EQ(kept.size(), 1u);
  EXPECT_FALSE(IsOpen(old_fd)) << "unused past the idle time: closed, the removed file's space freed";
  EXPECT_TRUE(IsOpen(recent_fd));
  kept.CloseIdle(2000);
  EXPECT_EQ(kept.size(), 0u);
  EXPECT_FALSE(IsOpen(recent_fd));
}

TEST_F(OpenFilesTest, ShrinkGivesBackTheOlderHalf) {
  OpenFiles kept(8);
  for (int i = 0; i < 6; ++i) kept.Keep("f" + std::to_string(i), Open("f" + std::to_string(i)), i);
  kept.Shrink();
  EXPECT_EQ(kept.size(), 3u);
  OpenedFile found;
  OpenedFile f5;
  ASSERT_TRUE(files_->OpenFile("f5", &f5).ok());
  EXPECT_TRUE(kept.Find("f5", f5.identity, 7, &found)) << "the most recent stay";
}

TEST(OpenFilesCapacityTest, HalfOfWhatTheLimitLeavesAtMostWhatIsAskedFor) {
  EXPECT_EQ(OpenFiles::Affordable(1024, 16384), 0u) << "the default soft limit of 1,024 leaves nothing";
  EXPECT_EQ(OpenFiles::Affordable(20000, 16384), (20000u - 1024u) / 2);
  EXPECT_EQ(OpenFiles::Affordable(1u << 20, 16384), 16384u);
  EXPECT_EQ(OpenFiles::Affordable(1u << 20, 0), 0u);
}

}  // namespace
}  // namespace fc::worker
