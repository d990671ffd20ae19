// End-to-end behaviour of fc-master + fc-client + fc-shmdump on real processes.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "fc/base/checksum.h"
#include "harness.h"

namespace fc::testing {
namespace {

using protocol::Code;
using protocol::ReplyHeader;

class EndToEndTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteText(root_ / "a.txt", "hello, fc\n");
    ::mkdir((root_ / "docs").c_str(), 0755);
    WriteFile(root_ / "docs/a b.bin", 3'000'000, 1);
  }
  TempDir root_;
  TempDir out_;
};

TEST_F(EndToEndTest, GetSavesAByteIdenticalFileAndListShowsIt) {
  Server server(root_.path());
  ASSERT_TRUE(server.started());
  ToolResult r = server.Client({"get", "docs/a b.bin", out_.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FileChecksum(out_ / "a b.bin"), FileChecksum(root_ / "docs/a b.bin"));
  ToolResult list = server.Client({"list", "--json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(JsonValues(list.out, "name"), std::vector<std::string>{"docs/a b.bin"});
  EXPECT_EQ(JsonValues(list.out, "size"), std::vector<std::string>{"3000000"});
  // The second get is a hit.
  r = server.Client({"get", "docs/a b.bin", out_.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  list = server.Client({"list", "--json"});
  EXPECT_EQ(JsonValues(list.out, "hits"), std::vector<std::string>{"1"});
  // The table form lines up and names the file.
  ToolResult table = server.Client({"list"});
  EXPECT_NE(table.out.find("docs/a b.bin"), std::string::npos);
  EXPECT_NE(table.out.find("1 cached file"), std::string::npos);
}

TEST_F(EndToEndTest, ShortFormsOfTheCommandLinesWork) {
  // fc-master HOST PORT DIR, fc-client HOST PORT NAME DIR, fc-client HOST PORT list.
  TempDir lock_dir;
  ToolResult help = RunTool({MasterBin(), "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.out.find("fc-master HOST PORT DIR"), std::string::npos);
  Server server(root_.path());
  ASSERT_TRUE(server.started());
  ToolResult get = RunTool({ClientBin(), "127.0.0.1", server.port_text(), "a.txt", out_.path()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(ReadFileOrEmpty(out_ / "a.txt"), "hello, fc\n");
  ToolResult list = RunTool({ClientBin(), "127.0.0.1", server.port_text(), "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("a.txt"), std::string::npos);
}

TEST_F(EndToEndTest, PositionalMasterFormServes) {
  // `fc-master HOST PORT DIR` (port 0 too) really serves.
  Server server(root_.path(), {}, {}, /*positional=*/true);
  ASSERT_TRUE(server.started()) << server.Log();
  ToolResult get = server.Client({"get", "a.txt", out_.path()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(ReadFileOrEmpty(out_ / "a.txt"), "hello, fc\n");
  // A short form missing its directory is a usage error that shows the form.
  ToolResult bad = RunTool({MasterBin(), "127.0.0.1", "0"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("HOST PORT DIR"), std::string::npos);
}

TEST_F(EndToEndTest, NotFoundIsOneClearLineAndExitCode1) {
  Server server(root_.path());
  ToolResult r = server.Client({"get", "missing.txt", out_.path()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not found"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("missing.txt"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(FileExists(out_ / "missing.txt"));
}

TEST_F(EndToEndTest, TraversalAttemptsAreRefusedAndLogged) {
  TempDir outside;
  WriteText(outside / "secret.txt", "secret");
  ASSERT_EQ(::symlink((outside / "secret.txt").c_str(), (root_ / "link-out").c_str()), 0);
  ASSERT_EQ(::symlink(outside.path().c_str(), (root_ / "dir-out").c_str()), 0);
  ASSERT_EQ(::symlink("a.txt", (root_ / "link-in").c_str()), 0);
  Server server(root_.path());
  for (const std::string name : {"../secret.txt", "/etc/passwd", "docs/../../x", "link-out",
                                 "dir-out/secret.txt", "docs", "docs/../a.txt"}) {
    ToolResult r = server.Client({"get", name, out_.path()});
    EXPECT_EQ(r.exit_code, 1) << name;
    EXPECT_NE(r.err.find("forbidden"), std::string::npos) << name << ": " << r.err;
  }
  // ".." has no local file name: the client refuses it before asking.
  ToolResult dots = server.Client({"get", "..", out_.path()});
  EXPECT_EQ(dots.exit_code, 1);
  EXPECT_NE(dots.err.find("not a file name"), std::string::npos) << dots.err;
  // A symlink that stays inside the root is followed.
  ToolResult in = server.Client({"get", "link-in", out_.path()});
  EXPECT_EQ(in.exit_code, 0) << in.err;
  EXPECT_EQ(ReadFileOrEmpty(out_ / "link-in"), "hello, fc\n");
  EXPECT_TRUE(server.WaitForLog("\"link-out\" refused forbidden")) << server.Log();
}

TEST_F(EndToEndTest, NulBytesAndOverlongNamesAreRefused) {
  Server server(root_.path());
  RawConnection nul(server.port());
  ASSERT_TRUE(nul.Send(RawConnection::GetRequest(std::string("a.txt\0x", 7))));
  ReplyHeader h;
  std::string body;
  ASSERT_TRUE(nul.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kForbidden);
  EXPECT_NE(body.find("NUL"), std::string::npos);

  RawConnection longer(server.port());
  ASSERT_TRUE(longer.Send(RawConnection::GetRequest(std::string(5000, 'a'))));
  ASSERT_TRUE(longer.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kTooLarge);
  EXPECT_TRUE(longer.ClosedByPeer());

  // A 4096-byte name fits the header's limit but not the file system's (4095
  // bytes, components of 255): TOO_LARGE, and the connection stays usable.
  RawConnection max(server.port());
  ASSERT_TRUE(max.Send(RawConnection::GetRequest(std::string(4096, 'a'))));
  ASSERT_TRUE(max.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kTooLarge);
  ASSERT_TRUE(max.Send(RawConnection::GetRequest("a.txt")));
  ASSERT_TRUE(max.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kOk);
}

TEST_F(EndToEndTest, MalformedRequestGetsBadRequestAndTheServerKeepsServing) {
  Server server(root_.path());
  RawConnection junk(server.port());
  // Bytes that are not "FC" + a version byte are HTTP: garbage gets HTTP's 400.
  ASSERT_TRUE(junk.Send("GARBAGE GARBAGE GARBAGE GARBAGE GARBAGE\r\n"));
  std::string status;
  ASSERT_TRUE(junk.ReadExactly(24, &status));
  EXPECT_EQ(status, "HTTP/1.1 400 Bad Request");
  ReplyHeader h;
  std::string body;
  RawConnection bad_version(server.port());
  std::string req = RawConnection::GetRequest("a.txt");
  req[2] = 9;
  ASSERT_TRUE(bad_version.Send(req));
  ASSERT_TRUE(bad_version.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kBadVersion);
  EXPECT_EQ(server.Client({"get", "a.txt", out_.path()}).exit_code, 0);
}

TEST_F(EndToEndTest, SeveralRequestsOnOneConnectionInOrder) {
  Server server(root_.path());
  RawConnection conn(server.port());
  // Pipelined: all three sent before any reply is read.
  ASSERT_TRUE(conn.Send(RawConnection::GetRequest("a.txt") + RawConnection::GetRequest("nope") +
                        RawConnection::ListRequest()));
  ReplyHeader h;
  std::string body;
  ASSERT_TRUE(conn.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kOk);
  EXPECT_EQ(body, "hello, fc\n");
  EXPECT_EQ(h.checksum, Checksum64::Of(body.data(), body.size()));
  ASSERT_TRUE(conn.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kNotFound);
  ASSERT_TRUE(conn.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kOk);
  std::vector<protocol::ListItem> items;
  ASSERT_TRUE(protocol::DecodeListBody(body, &items));
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].name, "a.txt");
}

TEST_F(EndToEndTest, RangedGetReturnsTheRequestedBytesAndTheWholeFileChecksum) {
  Server server(root_.path());
  const std::string whole = ReadFileOrEmpty(root_ / "docs/a b.bin");
  for (int pass = 0; pass < 2; ++pass) {  // a miss, then a hit
    RawConnection conn(server.port());
    ASSERT_TRUE(conn.Send(RawConnection::GetRequest("docs/a b.bin", 1'234'567, 1000)));
    ReplyHeader h;
    std::string body;
    ASSERT_TRUE(conn.ReadReply(&h, &body));
    EXPECT_EQ(h.code, Code::kOk);
    EXPECT_EQ(h.offset, 1'234'567u);
    EXPECT_EQ(h.file_size, whole.size());
    EXPECT_EQ(body, whole.substr(1'234'567, 1000));
    EXPECT_EQ(h.checksum, Checksum64::Of(whole.data(), whole.size()));
    ASSERT_TRUE(conn.Send(RawConnection::GetRequest("docs/a b.bin", whole.size() + 1)));
    ASSERT_TRUE(conn.ReadReply(&h, &body));
    EXPECT_EQ(h.code, Code::kBadRange);
  }
}

TEST_F(EndToEndTest, ModifiedFileIsNeverServedStale) {
  Server server(root_.path());
  WriteText(root_ / "v.txt", "version 1");
  ASSERT_EQ(server.Client({"get", "v.txt", out_.path()}).exit_code, 0);
  EXPECT_EQ(ReadFileOrEmpty(out_ / "v.txt"), "version 1");
  // Same size; a different mtime (set explicitly, so the test does not depend
  // on timestamp granularity).
  WriteText(root_ / "v.txt", "version 2");
  struct timespec times[2] = {{0, UTIME_OMIT}, {1'000'000'000, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ / "v.txt").c_str(), times, 0), 0);
  ASSERT_EQ(server.Client({"get", "v.txt", out_.path()}).exit_code, 0);
  EXPECT_EQ(ReadFileOrEmpty(out_ / "v.txt"), "version 2");
  // Replaced by a new inode with the same size and mtime: also caught.
  WriteText(root_ / "v.tmp", "version 3");
  ASSERT_EQ(::utimensat(AT_FDCWD, (root_ / "v.tmp").c_str(), times, 0), 0);
  ASSERT_EQ(::rename((root_ / "v.tmp").c_str(), (root_ / "v.txt").c_str()), 0);
  ASSERT_EQ(server.Client({"get", "v.txt", out_.path()}).exit_code, 0);
  EXPECT_EQ(ReadFileOrEmpty(out_ / "v.txt"), "version 3");
  // Deleted: not found, even though it was cached.
  ::unlink((root_ / "v.txt").c_str());
  EXPECT_EQ(server.Client({"get", "v.txt", out_.path()}).exit_code, 1);
}

TEST_F(EndToEndTest, FileLargerThanTheCacheIsStreamedAndNeverCached) {
  WriteFile(root_ / "big.bin", 3'000'000, 9);
  Server server(root_.path(), {"--cache-size", "2M"});
  ToolResult r = server.Client({"get", "big.bin", out_.path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("from disk"), std::string::npos);
  EXPECT_EQ(FileChecksum(out_ / "big.bin"), FileChecksum(root_ / "big.bin"));
  ToolResult list = server.Client({"list", "--json"});
  EXPECT_TRUE(JsonValues(list.out, "name").empty()) << list.out;
  EXPECT_TRUE(server.WaitForLog("\"big.bin\" stream")) << server.Log();
}

TEST_F(EndToEndTest, ClientLeavesNothingBehindWhenTheTransferFails) {
  Server server(root_.path());
  ToolResult r = server.Client({"get", "a.txt", out_ / "no-such-dir"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no-such-dir"), std::string::npos);
  // A failed get leaves no temporary or partial file.
  r = server.Client({"get", "nope", out_.path()});
  EXPECT_EQ(r.exit_code, 1);
  ToolResult ls = RunTool({"/bin/ls", "-A", out_.path()});
  EXPECT_EQ(ls.out, "");
}

TEST_F(EndToEndTest, UsageErrorsExitWith2AndHelpWith0) {
  EXPECT_EQ(RunTool({ClientBin()}).exit_code, 2);
  EXPECT_EQ(RunTool({ClientBin(), "get", "127.0.0.1"}).exit_code, 2);
  EXPECT_EQ(RunTool({ClientBin(), "list", "127.0.0.1", "99999"}).exit_code, 2);
  EXPECT_EQ(RunTool({ClientBin(), "--help"}).exit_code, 0);
  EXPECT_EQ(RunTool({MasterBin(), "--root", root_.path(), "--cache-size", "lots"}).exit_code, 2);
  EXPECT_EQ(RunTool({MasterBin(), "--root", root_.path(), "--policy", "random"}).exit_code, 2);
  EXPECT_EQ(RunTool({MasterBin()}).exit_code, 2);
  EXPECT_EQ(RunTool({ShmdumpBin(), "--port", "9", "--shm-name", "x"}).exit_code, 2);
  // No arguments: port 9000's segment, as fc-master's default port.
  ToolResult bare = RunTool({ShmdumpBin()});
  if (!FileExists("/dev/shm/fc-9000")) {
    EXPECT_EQ(bare.exit_code, 1);
    EXPECT_NE(bare.err.find("\"fc-9000\""), std::string::npos) << bare.err;
    EXPECT_EQ(bare.err.back(), '\n');
  }
  EXPECT_EQ(RunTool({ShmdumpBin(), "--help"}).exit_code, 0);
  ToolResult missing = RunTool({ShmdumpBin(), "--shm-name", "fc-no-such-segment"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("fc-no-such-segment"), std::string::npos);
  ToolResult refused = RunTool({ClientBin(), "list", "127.0.0.1", "1"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("127.0.0.1:1"), std::string::npos);
}

TEST_F(EndToEndTest, ShmdumpShowsEntriesAndWorkersAndChecksClean) {
  Server server(root_.path(), {"--workers", "3"});
  ASSERT_EQ(server.Client({"get", "a.txt", out_.path()}).exit_code, 0);
  ToolResult dump = server.Shmdump({"--json"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  EXPECT_EQ(JsonNumber(dump.out, "capacity"), JsonNumber(dump.out, "used") + JsonNumber(dump.out, "free"));
  EXPECT_EQ(JsonNumber(dump.out, "generation"), 1u);
  EXPECT_EQ(JsonValues(dump.out, "state"), std::vector<std::string>{"ready"});
  EXPECT_EQ(JsonValues(dump.out, "alive"), (std::vector<std::string>{"true", "true", "true"}));
  ToolResult check = server.Shmdump({"--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out;
}

TEST_F(EndToEndTest, ShutdownRemovesTheSegmentAndLockFiles) {
  auto server = std::make_unique<Server>(root_.path());
  ASSERT_EQ(server->Client({"get", "a.txt", out_.path()}).exit_code, 0);
  const std::string shm = "/dev/shm/" + server->shm_name();
  const std::string locks = server->LockDir();
  ASSERT_FALSE(locks.empty()) << server->Log();
  EXPECT_TRUE(FileExists(shm));
  struct stat st;
  ASSERT_EQ(::lstat(locks.c_str(), &st), 0) << locks;
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u) << "the lock directory must be private";
  EXPECT_EQ(st.st_uid, ::geteuid());
  const auto workers = server->WorkerPids();
  EXPECT_EQ(server->Stop(), 0);
  EXPECT_FALSE(FileExists(shm));
  EXPECT_FALSE(FileExists(locks));
  for (pid_t w : workers) EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " outlived the master";
}

TEST_F(EndToEndTest, RestartOverTheLeftoversOfAKilledMasterJustWorks) {
  const std::string name = "fc-test-restart-" + std::to_string(::getpid());
  std::vector<pid_t> workers;
  {
    Server first(root_.path(), {"--shm-name", name});
    ASSERT_EQ(first.Client({"get", "a.txt", out_.path()}).exit_code, 0);
    workers = first.WorkerPids();
    first.Kill();
  }
  // The workers follow their master (PR_SET_PDEATHSIG).
  for (int i = 0; i < 200; ++i) {
    bool any = false;
    for (pid_t w : workers) any = any || ::kill(w, 0) == 0;
    if (!any) break;
    ::usleep(50'000);
  }
  for (pid_t w : workers) EXPECT_NE(::kill(w, 0), 0) << "worker " << w << " outlived the master";
  EXPECT_TRUE(FileExists("/dev/shm/" + name));  // the stale segment is still there
  Server second(root_.path(), {"--shm-name", name});
  ASSERT_TRUE(second.started());
  ToolResult r = second.Client({"get", "a.txt", out_.path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  ToolResult list = second.Client({"list", "--json"});
  EXPECT_EQ(JsonValues(list.out, "hits"), std::vector<std::string>{"0"});  // a fresh cache
  second.Stop();
  EXPECT_FALSE(FileExists("/dev/shm/" + name));
}

TEST_F(EndToEndTest, ASecondServerRefusesALiveSegmentName) {
  const std::string name = "fc-test-inuse-" + std::to_string(::getpid());
  Server first(root_.path(), {"--shm-name", name});
  ASSERT_TRUE(first.started());
  ToolResult second = RunTool({MasterBin(), "--root", root_.path(), "--port", "0",
                               "--shm-name", name, "--user", "root"}, 10'000);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("in use"), std::string::npos) << second.err;
  EXPECT_EQ(first.Client({"get", "a.txt", out_.path()}).exit_code, 0);
}

TEST_F(EndToEndTest, KilledWorkerIsReplacedWithinOneSecond) {
  Server server(root_.path(), {"--workers", "2"});
  auto before = server.WorkerPids();
  ASSERT_EQ(before.size(), 2u);
  ::kill(before[0], SIGKILL);
  const int ms = server.WaitForWorkers(2, {before[0]}, 5000);
  EXPECT_GE(ms, 0);
  EXPECT_LT(ms, 1000 * kTimeFactor);
  EXPECT_EQ(server.Client({"get", "a.txt", out_.path()}).exit_code, 0);
  // Logged at the reap, which may come after the replacement serves.
  EXPECT_TRUE(server.WaitForLog("killed by signal 9")) << server.Log();
}

TEST_F(EndToEndTest, AProgressBarOnATerminalAndNoneOtherwise) {
  Server server(root_.path());
  // Not a terminal: just the one summary line.
  ToolResult plain = server.Client({"get", "docs/a b.bin", out_.path()});
  ASSERT_EQ(plain.exit_code, 0);
  EXPECT_EQ(plain.out.find('%'), std::string::npos) << plain.out;
  if (!FileExists("/usr/bin/script")) GTEST_SKIP() << "no script(1) to fake a terminal";
  // On a pseudo-terminal (script(1)), a bar for a file over 1 MB.
  const std::string command = ClientBin() + " get 127.0.0.1 " + server.port_text() +
                              " 'docs/a b.bin' " + out_.path();
  ToolResult tty = RunTool({"/usr/bin/script", "-qec", command, "/dev/null"}, 30'000);
  EXPECT_EQ(tty.exit_code, 0) << tty.err;
  EXPECT_NE(tty.out.find("100%"), std::string::npos) << tty.out;
  EXPECT_NE(tty.out.find("MB/s"), std::string::npos) << tty.out;
}

TEST_F(EndToEndTest, TheDefaultPolicyCachesABigFileOnItsSecondRequest) {
  Server server(root_.path(), {"--policy", "fc"});
  ToolResult first = server.Client({"get", "docs/a b.bin", out_.path()});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_NE(first.out.find("from disk"), std::string::npos);  // streamed, not cached yet
  EXPECT_TRUE(JsonValues(server.Client({"list", "--json"}).out, "name").empty());
  ToolResult second = server.Client({"get", "docs/a b.bin", out_.path()});
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_NE(second.out.find("from cache"), std::string::npos);
  EXPECT_EQ(FileChecksum(out_ / "a b.bin"), FileChecksum(root_ / "docs/a b.bin"));
  // A small file is cached at once.
  ASSERT_EQ(server.Client({"get", "a.txt", out_.path()}).exit_code, 0);
  const auto names = JsonValues(server.Client({"list", "--json"}).out, "name");
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()),
            (std::set<std::string>{"a.txt", "docs/a b.bin"}));
}

TEST_F(EndToEndTest, ACrashLoopIsThrottledWithBackoff) {
  TempDir root;
  WriteText(root / "a.txt", "x");
  Server server(root.path(), {"--workers", "1"});
  ASSERT_TRUE(server.started());
  for (int i = 0; i < 500 && server.Log().find("serving with") == std::string::npos; ++i) {
    ::usleep(10'000);
  }
  const pid_t first = server.WorkerPids().at(0);
  // New workers cannot open the root any more: each one exits at once. (The
  // standby, which opened it already, goes first: it would take over.)
  ASSERT_TRUE(WaitUntil([&] { return server.StandbyPid() != 0; }, 5000));
  ::unlink((root / "a.txt").c_str());
  ASSERT_EQ(::rmdir(root.path().c_str()), 0);
  ::kill(server.StandbyPid(), SIGKILL);
  ::kill(first, SIGTERM);
  // The order of events, not a timing window: each quick death is followed by
  // a respawn delay twice the previous one (100, 200, 400 ms...).
  std::vector<int> delays;
  std::string log;
  for (int i = 0; i < 1000 && delays.size() < 3; ++i) {
    ::usleep(10'000);
    log = server.Log();
    delays.clear();
    const std::string key = "respawning in ";
    for (size_t p = log.find(key); p != std::string::npos; p = log.find(key, p + 1)) {
      delays.push_back(std::atoi(log.c_str() + p + key.size()));
    }
  }
  ASSERT_GE(delays.size(), 3u) << log;
  EXPECT_EQ(delays[0], 100) << log;
  EXPECT_EQ(delays[1], 200) << log;
  EXPECT_EQ(delays[2], 400) << log;
  EXPECT_NE(log.find("(crash loop)"), std::string::npos) << log;
  ::mkdir(root.path().c_str(), 0755);  // so TempDir's clean-up finds it
}

TEST_F(EndToEndTest, StopLetsAnInFlightTransferFinishAndRefusesNewConnections) {
  WriteFile(root_ / "big.bin", 20'000'000, 3);
  Server server(root_.path(), {"--workers", "1"});
  ASSERT_EQ(server.Client({"get", "big.bin", out_.path(), "--quiet"}).exit_code, 0);
  RawConnection slow(server.port());
  ASSERT_TRUE(slow.Send(RawConnection::GetRequest("big.bin")));
  std::string head;
  ASSERT_TRUE(slow.ReadExactly(protocol::kReplyHeaderSize, &head));
  ::kill(server.pid(), SIGTERM);
  // The port closes to newcomers (polled, under a deadline)...
  bool refused = false;
  for (int i = 0; i < 500 && !refused; ++i) {
    refused = !RawConnection(server.port()).connected();
    if (!refused) ::usleep(10'000);
  }
  EXPECT_TRUE(refused);
  // ...but the transfer in flight completes, byte for byte.
  std::string body;
  ASSERT_TRUE(slow.ReadExactly(20'000'000, &body));
  EXPECT_EQ(Checksum64::Of(body.data(), body.size()), FileChecksum(root_ / "big.bin"));
  EXPECT_EQ(server.Stop(), 0);
}

}  // namespace
}  // namespace fc::testing
