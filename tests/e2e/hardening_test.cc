// What is shared must not be turned against fc: the lock directory, the
// segment, the disk, the token, LIST, and waits on other processes.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>
#include <vector>

#include "fc/base/checksum.h"
#include "fc/base/private_dir.h"
#include "harness.h"

namespace fc::testing {
namespace {

using Clock = std::chrono::steady_clock;

int64_t MsSince(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

size_t CountFiles(const std::string& dir) {
  size_t n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    ++n;
  }
  return n;
}

class HardeningTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteText(root_ / "a.txt", "0123456789"); }
  ToolResult StartAndFail(std::vector<std::string> extra, int timeout_ms = 10'000) {
    std::vector<std::string> argv = {MasterBin(), "--root", root_.path(), "--port", "0", "--workers", "1",
                                     "--user", "root"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunTool(argv, timeout_ms);
  }
  TempDir root_, scratch_;
};

TEST_F(HardeningTest, ALockDirectoryThatIsNotPrivateRefusesToStart) {
  const std::string open_dir = scratch_ / "shared";
  ASSERT_EQ(::mkdir(open_dir.c_str(), 0755), 0);
  ::chmod(open_dir.c_str(), 0755);
  ToolResult r = StartAndFail({"--lock-dir", open_dir});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find(open_dir), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("not private"), std::string::npos) << r.err;
  // A symlink planted at the name is refused too (not followed).
  const std::string link = scratch_ / "link";
  ASSERT_EQ(::mkdir((scratch_ / "target").c_str(), 0700), 0);
  ASSERT_EQ(::symlink((scratch_ / "target").c_str(), link.c_str()), 0);
  r = StartAndFail({"--lock-dir", link});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("symlink"), std::string::npos) << r.err;
}

// A master that ran as nobody cannot remove its lock directory from the
// root-owned /run/fc; the next master started as root, as any user, takes
// fc's default location back instead of refusing to start.
TEST_F(HardeningTest, ADefaultLockDirectoryLeftByAnotherUserIsTakenBack) {
  if (::geteuid() != 0 || std::getenv("RUNTIME_DIRECTORY") != nullptr) GTEST_SKIP() << "needs root and /run/fc";
  const std::string name = "fc-takeover-" + std::to_string(::getpid());
  const std::string dir = RootLockBase() + "/" + name + ".locks";
  ::mkdir(RootLockBase().c_str(), 0711);
  ASSERT_EQ(::mkdir(dir.c_str(), 0700), 0) << dir;
  ASSERT_EQ(::chown(dir.c_str(), 65534, 65534), 0);
  Server server(root_.path(), {"--shm-name", name, "--user", "root"});
  ASSERT_TRUE(server.started()) << server.Log();
  struct stat st;
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  EXPECT_EQ(server.Client({"list"}).exit_code, 0);
  EXPECT_EQ(server.Stop(), 0);
  ::rmdir(dir.c_str());
}

TEST_F(HardeningTest, LockFilesDoNotPileUpAndAVanishedDirectoryIsRecreated) {
  for (int i = 0; i < 300; ++i) WriteText(root_ / ("f" + std::to_string(i)), std::to_string(i));
  Server server(root_.path(), {"--lock-dir", scratch_ / "locks"});
  ASSERT_TRUE(server.started());
  for (int i = 0; i < 300; ++i) {
    RawConnection conn(server.port());
    // Three spellings of each name: one canonical name, one load.
    for (const char* prefix : {"", "./", ".//"}) {
      ASSERT_TRUE(conn.Send(RawConnection::GetRequest(prefix + ("f" + std::to_string(i)))));
      protocol::ReplyHeader h;
      std::string body;
      ASSERT_TRUE(conn.ReadReply(&h, &body));
      ASSERT_EQ(body, std::to_string(i));
    }
  }
  // A fixed pool of lock files (256), created as used and kept: 300 names
  // share them, and no load creates or removes one once all are there.
  const size_t files = CountFiles(scratch_ / "locks");
  EXPECT_GT(files, 100u);
  EXPECT_LE(files, 256u) << "lock files never outnumber the pool";
  // Removed from under the running server: recreated, and no request fails.
  std::filesystem::remove_all(scratch_ / "locks");
  WriteText(root_ / "new.txt", "new");
  RawConnection conn(server.port());
  ASSERT_TRUE(conn.Send(RawConnection::GetRequest("new.txt")));
  protocol::ReplyHeader h;
  std::string body;
  ASSERT_TRUE(conn.ReadReply(&h, &body));
  EXPECT_EQ(body, "new");
  EXPECT_NE(server.Log().find("recreated"), std::string::npos) << server.Log();
  struct stat st;
  ASSERT_EQ(::lstat((scratch_ / "locks").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

// A loader stopped while it holds a file's load lock (SIGSTOP at mid_load):
// requests for that file on the other worker wait at most --request-timeout,
// then get correct bytes streamed from disk.
char ProcessState(pid_t pid) {
  const std::string text = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() ? text[paren + 2] : '?';
}

TEST_F(HardeningTest, AStuckLoadDelaysOthersOnlyUntilTheRequestTimeout) {
  for (int i = 0; i < 30; ++i) WriteFile(root_ / ("big" + std::to_string(i)), 512 << 10, i);
  Server server(root_.path(), {"--workers", "2", "--request-timeout", "1"},
                {"FC_CRASH_AT=mid_load", "FC_CRASH_ACTION=stop"});
  ASSERT_TRUE(server.started());
  // New files until one lands on the armed worker, which stops holding its
  // lock. New connections are steered to the workers at random, so the ones
  // that were answered are kept: they are on the live worker, and the stuck
  // file is asked for on them (a fresh connection may land on the stopped one).
  std::string stuck;
  std::vector<std::unique_ptr<RawConnection>> live;
  for (int i = 0; i < 30 && stuck.empty(); ++i) {
    auto conn = std::make_unique<RawConnection>(server.port());
    conn->SetReceiveTimeout(300);
    conn->Send(RawConnection::GetRequest("big" + std::to_string(i)));
    protocol::ReplyHeader h;
    std::string body;
    if (conn->ReadReply(&h, &body) && h.code == protocol::Code::kOk) live.push_back(std::move(conn));
    for (pid_t w : server.WorkerPids()) {
      if (ProcessState(w) == 'T') stuck = "big" + std::to_string(i);
    }
  }
  ASSERT_FALSE(stuck.empty()) << "no request reached the armed worker";
  // Four connections on the live worker: probe with a small file until enough
  // are answered (each new one has an even chance).
  WriteText(root_ / "probe", "probe");
  for (int i = 0; i < 64 && live.size() < 4; ++i) {
    auto conn = std::make_unique<RawConnection>(server.port());
    conn->SetReceiveTimeout(300);
    conn->Send(RawConnection::GetRequest("probe"));
    protocol::ReplyHeader h;
    std::string body;
    if (conn->ReadReply(&h, &body) && body == "probe") live.push_back(std::move(conn));
  }
  ASSERT_GE(live.size(), 4u) << "no connection reached the live worker";
  const uint64_t sum = FileChecksum(root_ / stuck);
  std::vector<std::thread> clients;
  std::atomic<int> served{0}, wrong{0};
  std::atomic<int64_t> slowest_ms{0};
  for (auto& conn : live) {
    clients.emplace_back([&, c = conn.get()] {
      const auto start = Clock::now();
      c->SetReceiveTimeout(5000);
      protocol::ReplyHeader h;
      std::string body;
      if (!c->Send(RawConnection::GetRequest(stuck)) || !c->ReadReply(&h, &body)) return;
      if (h.code != protocol::Code::kOk || Checksum64::Of(body.data(), body.size()) != sum) {
        ++wrong;
        return;
      }
      ++served;
      int64_t ms = MsSince(start), seen = slowest_ms.load();
      while (ms > seen && !slowest_ms.compare_exchange_weak(seen, ms)) {
      }
    });
  }
  for (auto& t : clients) t.join();
  for (pid_t w : server.WorkerPids()) ::kill(w, SIGCONT);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(served.load(), static_cast<int>(live.size())) << "every request on the live worker is answered";
  EXPECT_LT(slowest_ms.load(), 4000 * kTimeFactor) << "a served request waited far past --request-timeout";
  EXPECT_TRUE(server.WaitForLog("stream-load-busy")) << server.Log();
}

TEST_F(HardeningTest, TheSegmentIsPrivateAndAForeignOneIsRefusedAtOnce) {
  {
    Server server(root_.path());
    ASSERT_TRUE(server.started());
    struct stat st;
    ASSERT_EQ(::stat(("/dev/shm/" + server.shm_name()).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "cached bytes must not be readable by other users";
  }
  if (::geteuid() != 0) GTEST_SKIP() << "planting another user's segment needs root";
  const std::string name = "fc-test-planted-" + std::to_string(::getpid());
  const std::string path = "/dev/shm/" + name;
  {
    std::ofstream(path) << std::string(1 << 20, '\0');  // zero-filled: Boost would wait forever
  }
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  auto start = Clock::now();
  ToolResult r = StartAndFail({"--shm-name", name});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_LT(MsSince(start), 2000 * kTimeFactor);
  EXPECT_NE(r.err.find("belongs to uid 65534"), std::string::npos) << r.err;
  EXPECT_TRUE(FileExists(path)) << "another user's file is not removed";
  // This user's own planted (or half-built) file is replaced.
  ASSERT_EQ(::chown(path.c_str(), ::geteuid(), ::getegid()), 0);
  Server server(root_.path(), {"--shm-name", name});
  EXPECT_TRUE(server.started()) << server.Log();
  server.Stop();
  ::unlink(path.c_str());
}

TEST_F(HardeningTest, ASegmentThatDoesNotFitInDevShmIsAClearErrorNotSigbus) {
  // A private mount namespace with a 16 MiB /dev/shm, like a small container.
  const std::string script = "mount -t tmpfs -o size=16m tmpfs /dev/shm && exec " + MasterBin() +
                             " --root " + root_.path() + " --port 0 --workers 1 --cache-size 32M --user root";
  ToolResult r = RunTool({"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script});
  if (r.err.find("mount") != std::string::npos && r.err.find("fc-master") == std::string::npos) {
    GTEST_SKIP() << "cannot mount a private tmpfs here: " << r.err;
  }
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("needs 32 MiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--cache-size"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--shm-size"), std::string::npos) << r.err;
}

TEST_F(HardeningTest, DeclaredUploadLengthsReserveNoDisk) {
  Server server(root_.path(), {"--allow-upload"});
  ASSERT_TRUE(server.started());
  struct statvfs before, after;
  ASSERT_EQ(::statvfs(root_.path().c_str(), &before), 0);
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 20; ++i) {
    auto conn = std::make_unique<RawConnection>(server.port());
    ASSERT_TRUE(conn->Send("PUT /up" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n"
                           "Content-Length: 1073741824\r\n\r\n0123456789"));
    stalled.push_back(std::move(conn));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  ASSERT_EQ(::statvfs(root_.path().c_str(), &after), 0);
  const double used_mb = (static_cast<double>(before.f_bavail) - static_cast<double>(after.f_bavail)) *
                         static_cast<double>(before.f_frsize) / 1e6;
  EXPECT_LT(used_mb, 100.0) << "20 declared GiB took " << used_mb << " MB of disk";
  // A length that cannot fit is refused at once, before any byte.
  RawConnection huge(server.port());
  ASSERT_TRUE(huge.Send("PUT /huge HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000000\r\n\r\n"));
  HttpResponse r;
  ASSERT_TRUE(ReadHttpResponse(huge, &r));
  EXPECT_EQ(r.status, 413);  // over --max-upload first; the disk check follows it
}

TEST_F(HardeningTest, AnUploadBelowTheMinimumRateIsClosed) {
  Server server(root_.path(), {"--allow-upload", "--upload-min-rate", "1M"});
  ASSERT_TRUE(server.started());
  RawConnection conn(server.port());
  conn.SetReceiveTimeout(20'000);
  const auto start = Clock::now();
  ASSERT_TRUE(conn.Send("PUT /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc"));
  EXPECT_TRUE(conn.ClosedByPeer());
  EXPECT_GE(MsSince(start), 9000) << "the first 10 s are a grace period";
  EXPECT_LT(MsSince(start), 15000 * kTimeFactor);
  EXPECT_NE(server.Log().find("--upload-min-rate"), std::string::npos) << server.Log();
  EXPECT_FALSE(FileExists(root_ / "slow"));
}

TEST_F(HardeningTest, TheTokenCanStayOutOfTheProcessList) {
  WriteText(scratch_ / "token", "s3cret-token\n");
  Server server(root_.path(), {"--allow-upload", "--upload-token-file", scratch_ / "token"});
  ASSERT_TRUE(server.started());
  const std::string cmdline = ReadFileOrEmpty("/proc/" + std::to_string(server.pid()) + "/cmdline");
  EXPECT_EQ(cmdline.find("s3cret"), std::string::npos);
  HttpResponse r;
  RawConnection conn(server.port());
  ASSERT_TRUE(conn.Send("PUT /t.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret-token\r\n"
                        "Content-Length: 2\r\n\r\nok"));
  ASSERT_TRUE(ReadHttpResponse(conn, &r));
  EXPECT_EQ(r.status, 201);
  Server argv_server(root_.path(), {"--allow-upload", "--upload-token", "visible"});
  ASSERT_TRUE(argv_server.started());
  EXPECT_NE(argv_server.Log().find("visible to every local user"), std::string::npos);
}

TEST_F(HardeningTest, ListCanBeTurnedOff) {
  Server server(root_.path(), {"--list", "off"});
  ASSERT_TRUE(server.started());
  RawConnection conn(server.port());
  ASSERT_TRUE(conn.Send(RawConnection::ListRequest()));
  protocol::ReplyHeader h;
  std::string body;
  ASSERT_TRUE(conn.ReadReply(&h, &body));
  EXPECT_EQ(h.code, protocol::Code::kForbidden);
  EXPECT_NE(body.find("--list off"), std::string::npos);
}

TEST_F(HardeningTest, ShmdumpGcRemovesOnlyTheLeftoversOfDeadMasters) {
  Server live(root_.path());
  ASSERT_TRUE(live.started());
  std::string dead_name, dead_locks;
  {
    Server doomed(root_.path());
    ASSERT_TRUE(doomed.started());
    dead_name = doomed.shm_name();
    dead_locks = doomed.LockDir();
    doomed.Kill();  // SIGKILL: nothing is cleaned up
  }
  ASSERT_TRUE(FileExists("/dev/shm/" + dead_name));
  ASSERT_TRUE(FileExists(dead_locks));
  ToolResult list = RunTool({ShmdumpBin(), "--gc"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find(dead_name), std::string::npos) << list.out;
  EXPECT_EQ(list.out.find(live.shm_name() + " "), std::string::npos) << list.out;
  EXPECT_TRUE(FileExists("/dev/shm/" + dead_name)) << "listing removes nothing";
  // Each name on its own: a removal of every dead segment here could take
  // another test's leftovers, which it still needs, in a parallel run.
  ToolResult removed = RunTool({ShmdumpBin(), "--gc", "--remove", "--shm-name", dead_name});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  ToolResult kept = RunTool({ShmdumpBin(), "--gc", "--remove", "--shm-name", live.shm_name()});
  EXPECT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_NE(kept.out.find("0 segments of dead masters"), std::string::npos) << kept.out;
  EXPECT_FALSE(FileExists("/dev/shm/" + dead_name));
  EXPECT_FALSE(FileExists(dead_locks));
  EXPECT_TRUE(FileExists("/dev/shm/" + live.shm_name())) << "a live master's segment was removed";
  EXPECT_EQ(live.Client({"list"}).exit_code, 0);
}

// Started as root, fc runs as an unprivileged user once the port is bound (by
// default nobody, as nginx's workers), so the kernel's permission checks apply:
// a file only root may read is not served.
TEST_F(HardeningTest, AsRootItDropsToAnUnprivilegedUserAndServesOnlyWhatThatUserMayRead) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  ASSERT_EQ(::chmod(root_.path().c_str(), 0755), 0);
  WriteText(root_ / "public.txt", "for everyone");
  WriteText(root_ / "secret.txt", "root only");
  ASSERT_EQ(::chmod((root_ / "public.txt").c_str(), 0644), 0);
  ASSERT_EQ(::chmod((root_ / "secret.txt").c_str(), 0600), 0);
  Server server(root_.path(), {"--user", "nobody"});
  ASSERT_TRUE(server.started()) << server.Log();
  for (pid_t pid : std::vector<pid_t>{server.pid()}) {
    struct stat st;
    ASSERT_EQ(::stat(("/proc/" + std::to_string(pid)).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u) << "the master runs as nobody";
  }
  for (pid_t w : server.WorkerPids()) {
    struct stat st;
    ASSERT_EQ(::stat(("/proc/" + std::to_string(w)).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u) << "worker " << w << " runs as nobody";
  }
  RawConnection conn(server.port());
  ASSERT_TRUE(conn.Send("GET /public.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
  HttpResponse r;
  ASSERT_TRUE(ReadHttpResponse(conn, &r));
  EXPECT_EQ(r.status, 200);
  ASSERT_TRUE(conn.Send("GET /secret.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(ReadHttpResponse(conn, &r));
  EXPECT_EQ(r.status, 403);
  struct stat seg;
  ASSERT_EQ(::stat(("/dev/shm/" + server.shm_name()).c_str(), &seg), 0);
  EXPECT_EQ(seg.st_uid, 65534u) << "the segment belongs to the user fc runs as";
  // Root's fc-shmdump still reads it (it becomes the segment's owner first).
  EXPECT_EQ(server.Shmdump({"--check"}).exit_code, 0);
  // A directory that user cannot read is a clear error at start.
  ASSERT_EQ(::chmod(root_.path().c_str(), 0700), 0);
  ToolResult bad = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--user", "nobody"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.err.find("cannot read the served directory"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace fc::testing
