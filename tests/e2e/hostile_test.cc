// Hostile and broken clients, and uploads: PUT stored atomically or not at all,
// limits that drop slow or stuck clients, and a connection flood that leaves
// the server serving everyone else.
#include <dirent.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>

#include <cstring>
#include <set>
#include <thread>

#include "fc/base/checksum.h"
#include "harness.h"

namespace fc::testing {
namespace {

using protocol::Code;

std::set<std::string> Listing(const std::string& dir) {
  std::set<std::string> names;
  if (DIR* d = ::opendir(dir.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string n = e->d_name;
      if (n != "." && n != "..") names.insert(n);
    }
    ::closedir(d);
  }
  return names;
}

std::string PutRequest(const std::string& name, const std::string& body, uint64_t checksum,
                       const std::string& token = "") {
  protocol::RequestHeader h;
  h.op = protocol::Op::kPut;
  h.name_length = static_cast<uint32_t>(name.size());
  h.length = body.size();
  h.checksum = checksum;
  h.token_length = static_cast<uint32_t>(token.size());
  std::string out(protocol::kRequestHeaderSize, '\0');
  protocol::EncodeRequestHeader(h, reinterpret_cast<uint8_t*>(out.data()));
  return out + name + token;
}

// Waits until some worker has an upload in progress: its unnamed file is open
// (visible as an "O_TMPFILE" /proc/PID/fd link, "(deleted)" or "#..."), under a deadline.
void WaitForUploadToStart(const Server& server) {
  for (int i = 0; i < 500; ++i) {
    for (pid_t w : server.WorkerPids()) {
      const std::string dir = "/proc/" + std::to_string(w) + "/fd";
      if (DIR* d = ::opendir(dir.c_str())) {
        bool found = false;
        while (dirent* e = ::readdir(d)) {
          char target[512];
          const ssize_t n = ::readlinkat(dirfd(d), e->d_name, target, sizeof(target) - 1);
          if (n > 0) {
            target[n] = '\0';
            found = found || std::strstr(target, "(deleted)") != nullptr || std::strstr(target, "/#") != nullptr;
          }
        }
        ::closedir(d);
        if (found) return;
      }
    }
    ::usleep(10'000);
  }
  ADD_FAILURE() << "no upload started within 5 s";
}

class UploadTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteText(root_ / "a.txt", "old contents"); }
  TempDir root_, out_, local_;
};

TEST_F(UploadTest, PutStoresTheFileAndInvalidatesItsCacheEntry) {
  Server server(root_.path(), {"--allow-upload"});
  ASSERT_EQ(server.Client({"get", "a.txt", out_.path()}).exit_code, 0);  // now cached
  WriteFile(local_ / "new.bin", 300'000, 4);
  ToolResult put = server.Client({"put", local_ / "new.bin", "a.txt"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(FileChecksum(root_ / "a.txt"), FileChecksum(local_ / "new.bin"));
  ASSERT_EQ(server.Client({"get", "a.txt", out_.path()}).exit_code, 0);
  EXPECT_EQ(FileChecksum(out_ / "a.txt"), FileChecksum(local_ / "new.bin"));
  EXPECT_EQ(Listing(root_.path()), (std::set<std::string>{"a.txt"}));  // no temporaries
}

TEST_F(UploadTest, PutIsRefusedUnlessEnabledAndWithTheRightToken) {
  WriteText(local_ / "x.txt", "x");
  {
    Server off(root_.path());
    ToolResult r = off.Client({"put", local_ / "x.txt"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("not enabled"), std::string::npos) << r.err;
  }
  Server server(root_.path(), {"--allow-upload", "--upload-token", "s3cret", "--max-upload", "1K"});
  ToolResult none = server.Client({"put", local_ / "x.txt"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.err.find("token"), std::string::npos) << none.err;
  EXPECT_EQ(server.Client({"put", local_ / "x.txt", "--token", "wrong"}).exit_code, 1);
  EXPECT_EQ(server.Client({"put", local_ / "x.txt", "--token", "s3cret"}).exit_code, 0);
  EXPECT_EQ(ReadFileOrEmpty(root_ / "x.txt"), "x");
  WriteFile(local_ / "big.bin", 2000, 1);
  ToolResult big = server.Client({"put", local_ / "big.bin", "--token", "s3cret"});
  EXPECT_EQ(big.exit_code, 1);
  EXPECT_NE(big.err.find("limit"), std::string::npos) << big.err;
  EXPECT_FALSE(FileExists(root_ / "big.bin"));
  ToolResult out = server.Client({"put", local_ / "x.txt", "../x.txt", "--token", "s3cret"});
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.err.find("forbidden"), std::string::npos) << out.err;
}

TEST_F(UploadTest, AWrongChecksumStoresNothing) {
  Server server(root_.path(), {"--allow-upload"});
  RawConnection conn(server.port());
  const std::string body = "new contents";
  ASSERT_TRUE(conn.Send(PutRequest("a.txt", body, 12345) + body));
  protocol::ReplyHeader h;
  std::string message;
  ASSERT_TRUE(conn.ReadReply(&h, &message));
  EXPECT_EQ(h.code, Code::kBadChecksum);
  EXPECT_EQ(ReadFileOrEmpty(root_ / "a.txt"), "old contents");
  EXPECT_EQ(Listing(root_.path()), (std::set<std::string>{"a.txt"}));
}

TEST_F(UploadTest, AClientOrWorkerDyingMidUploadLeavesNothingBehind) {
  Server server(root_.path(), {"--allow-upload"});
  const std::string body(1'000'000, 'z');
  {
    RawConnection conn(server.port());
    ASSERT_TRUE(conn.Send(PutRequest("a.txt", body, Checksum64::Of(body.data(), body.size())) +
                          body.substr(0, 400'000)));
    WaitForUploadToStart(server);
  }  // the client goes away half-way
  {
    RawConnection conn(server.port());
    ASSERT_TRUE(conn.Send(PutRequest("b.txt", body, Checksum64::Of(body.data(), body.size())) +
                          body.substr(0, 400'000)));
    WaitForUploadToStart(server);
    for (pid_t w : server.WorkerPids()) ::kill(w, SIGKILL);  // and the worker dies half-way
    ASSERT_GE(server.WaitForWorkers(2, {}, 5000), 0);
  }
  // Nothing appears: poll for a while, since a leak would show up late.
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(Listing(root_.path()), (std::set<std::string>{"a.txt"}));
    ::usleep(10'000);
  }
  EXPECT_EQ(ReadFileOrEmpty(root_ / "a.txt"), "old contents");
  EXPECT_EQ(server.Client({"get", "a.txt", out_.path()}).exit_code, 0);
}

TEST_F(UploadTest, AFullDiskGivesAClearErrorAndLeavesNothingHalfWritten) {
  const std::string small = root_ / "small";
  SmallTmpfs tmpfs(small, "1m");
  if (!tmpfs.mounted()) GTEST_SKIP() << tmpfs.error();
  WriteText(small + "/keep.txt", "keep");
  Server server(root_.path(), {"--allow-upload"});
  WriteFile(local_ / "huge.bin", 3'000'000, 2);
  ToolResult r = server.Client({"put", local_ / "huge.bin", "small/huge.bin"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no space"), std::string::npos) << r.err;
  EXPECT_EQ(Listing(small), (std::set<std::string>{"keep.txt"}));
  WriteText(local_ / "tiny.txt", "fits");
  EXPECT_EQ(server.Client({"put", local_ / "tiny.txt", "small/tiny.txt"}).exit_code, 0);
  EXPECT_EQ(ReadFileOrEmpty(small + "/tiny.txt"), "fits");
}

TEST_F(UploadTest, ConcurrentPutsToOneNameNeverMix) {
  Server server(root_.path(), {"--allow-upload", "--workers", "2"});
  WriteFile(local_ / "one.bin", 2'000'000, 11);
  WriteFile(local_ / "two.bin", 2'000'000, 22);
  const uint64_t one = FileChecksum(local_ / "one.bin"), two = FileChecksum(local_ / "two.bin");
  for (int round = 0; round < 5; ++round) {
    std::thread a([&] { EXPECT_EQ(server.Client({"put", local_ / "one.bin", "same.bin"}).exit_code, 0); });
    std::thread b([&] { EXPECT_EQ(server.Client({"put", local_ / "two.bin", "same.bin"}).exit_code, 0); });
    a.join();
    b.join();
    const uint64_t now = FileChecksum(root_ / "same.bin");
    EXPECT_TRUE(now == one || now == two) << "round " << round << ": a mix";
  }
  EXPECT_EQ(Listing(root_.path()), (std::set<std::string>{"a.txt", "same.bin"}));
}

TEST_F(UploadTest, HttpPutFollowsTheSameRules) {
  Server server(root_.path(), {"--allow-upload", "--upload-token", "tok"});
  const std::string body = "via http";
  char sum[17];
  std::snprintf(sum, sizeof(sum), "%016llx",
                static_cast<unsigned long long>(Checksum64::Of(body.data(), body.size())));
  auto put = [&](const std::string& extra) {
    RawConnection conn(server.port());
    conn.Send("PUT /h.txt HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\n" + extra + "\r\n" + body);
    std::string head, byte;
    while (head.find("\r\n\r\n") == std::string::npos && conn.ReadExactly(1, &byte)) head += byte;
    return std::atoi(head.c_str() + 9);
  };
  EXPECT_EQ(put(""), 403);
  EXPECT_EQ(put("Authorization: Bearer tok\r\nX-Fc-Checksum: 0000000000000001\r\n"), 400);
  EXPECT_FALSE(FileExists(root_ / "h.txt"));
  EXPECT_EQ(put(std::string("Authorization: Bearer tok\r\nX-Fc-Checksum: ") + sum + "\r\n"), 201);
  EXPECT_EQ(ReadFileOrEmpty(root_ / "h.txt"), body);
}

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteFile(root_ / "big.bin", 30'000'000, 3); WriteText(root_ / "a.txt", "a"); }
  TempDir root_, out_;
};

TEST_F(LimitsTest, SlowlorisIsDroppedWhileOthersAreServed) {
  Server server(root_.path(), {"--request-timeout", "1"});
  RawConnection slow(server.port());
  const std::string request = RawConnection::GetRequest("a.txt");
  // One byte every 250 ms (that pacing is the attack, not a synchronisation)
  // until the server drops it, which must happen well within 5 s.
  slow.SetReceiveTimeout(1);
  bool closed = false;
  const auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < request.size() && !closed; ++i) {
    EXPECT_EQ(server.Client({"get", "a.txt", out_.path(), "--quiet"}).exit_code, 0);
    closed = !slow.Send(request.substr(i, 1)) || slow.ClosedByPeer();
    if (std::chrono::steady_clock::now() - start > std::chrono::seconds(5)) break;
    if (!closed) ::usleep(250'000);
  }
  slow.SetReceiveTimeout(5000);
  EXPECT_TRUE(closed || slow.ClosedByPeer());
  EXPECT_NE(server.Log().find("request still incomplete"), std::string::npos);
}

TEST_F(LimitsTest, AReaderThatNeverReadsIsDropped) {
  Server server(root_.path(), {"--write-timeout", "1"});
  RawConnection stuck(server.port());
  int small = 4096;
  ::setsockopt(stuck.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  ASSERT_TRUE(stuck.Send(RawConnection::GetRequest("big.bin")));
  // The server gives up on it (what it had queued still drains slowly through
  // the tiny window, so the test reads the server's log, not the socket).
  bool dropped = false;
  for (int i = 0; i < 100 && !dropped; ++i) {
    ::usleep(50'000);
    dropped = server.Log().find("client not reading") != std::string::npos;
  }
  EXPECT_TRUE(dropped) << server.Log();
  EXPECT_EQ(server.Client({"get", "a.txt", out_.path(), "--quiet"}).exit_code, 0);
}

TEST_F(LimitsTest, AFloodOfTenThousandConnectionsLeavesTheServerServing) {
  rlimit files;
  ::getrlimit(RLIMIT_NOFILE, &files);
  if (files.rlim_max < 12'000) GTEST_SKIP() << "RLIMIT_NOFILE hard limit too low for 10,000 sockets";
  files.rlim_cur = files.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &files);
  Server server(root_.path(), {"--workers", "2", "--quiet"});
  std::vector<std::unique_ptr<RawConnection>> flood;
  for (int i = 0; i < 10'000; ++i) {
    auto c = std::make_unique<RawConnection>(server.port());
    if (!c->connected()) break;
    c->Send("F");  // a request that never completes
    flood.push_back(std::move(c));
  }
  EXPECT_EQ(flood.size(), 10'000u);
  for (int i = 0; i < 5; ++i) {
    ToolResult r = server.Client({"get", "a.txt", out_.path(), "--quiet"}, 20'000);
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
  flood.clear();
}

TEST_F(LimitsTest, OverTheConnectionLimitNewcomersAreClosedAndServiceResumes) {
  Server server(root_.path(), {"--workers", "1", "--max-connections", "50"});
  std::vector<std::unique_ptr<RawConnection>> held;
  for (int i = 0; i < 50; ++i) {
    held.push_back(std::make_unique<RawConnection>(server.port()));
    // A reply proves the server accepted (and counts) this connection.
    ASSERT_TRUE(held.back()->Send(RawConnection::ListRequest()));
    protocol::ReplyHeader h;
    std::string body;
    ASSERT_TRUE(held.back()->ReadReply(&h, &body));
  }
  RawConnection extra(server.port());
  extra.Send(RawConnection::GetRequest("a.txt"));
  EXPECT_TRUE(extra.ClosedByPeer());
  EXPECT_NE(server.Log().find("connection limit (50) reached"), std::string::npos) << server.Log();
  held.clear();
  // Service resumes once the server has seen the closes: poll, under a deadline.
  int exit_code = -1;
  for (int i = 0; i < 100 && exit_code != 0; ++i) {
    exit_code = server.Client({"get", "a.txt", out_.path(), "--quiet"}).exit_code;
  }
  EXPECT_EQ(exit_code, 0);
}

TEST_F(LimitsTest, ManyPipelinedRequestsAreAllAnsweredInOrderWithinTheQueueLimit) {
  Server server(root_.path(), {"--max-queued", "4"});
  RawConnection conn(server.port());
  std::string burst;
  for (int i = 0; i < 200; ++i) burst += RawConnection::GetRequest(i % 2 ? "a.txt" : "nope");
  ASSERT_TRUE(conn.Send(burst));
  for (int i = 0; i < 200; ++i) {
    protocol::ReplyHeader h;
    std::string body;
    ASSERT_TRUE(conn.ReadReply(&h, &body)) << "reply " << i;
    EXPECT_EQ(h.code, i % 2 ? Code::kOk : Code::kNotFound) << "reply " << i;
  }
}

TEST(ConfinementTest, FifosDevicesAndDirectoriesAreRefusedWithoutBlocking) {
  TempDir root, out;
  ASSERT_EQ(::mkfifo((root / "fifo").c_str(), 0644), 0);
  ASSERT_EQ(::symlink("/dev/zero", (root / "zero").c_str()), 0);
  ::mkdir((root / "dir").c_str(), 0755);
  const bool have_dev = ::mknod((root / "null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0;
  Server server(root.path());
  for (const std::string name : {"fifo", "zero", "dir"}) {
    ToolResult r = server.Client({"get", name, out.path()}, 10'000);
    EXPECT_EQ(r.exit_code, 1) << name;
    EXPECT_NE(r.err.find("forbidden"), std::string::npos) << name << ": " << r.err;
  }
  if (have_dev) {
    ToolResult r = server.Client({"get", "null", out.path()}, 10'000);
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("not a regular file"), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace fc::testing
