// Reload and upgrade, attacked: storms of SIGHUP under load, reloads past the
// slots and to a root with a symlink out, upgrade binaries that exit, hang or
// cannot run, two SIGUSR2, a new master killed mid-hand-over and SIGTERM to
// the old one during it. Real fc-masters on port 0.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "fc/base/checksum.h"
#include "fc/base/private_dir.h"
#include "harness.h"
#include "http_load.h"

namespace fc::testing {
namespace {

// Workers of the master `pid` registered in the segment and alive, from
// fc-shmdump --json (pid of every slot), and those alive among /proc's.
size_t LiveSlots(const Server& server) {
  ToolResult dump = server.Shmdump({"--json"});
  size_t live = 0;
  for (const std::string& pid : JsonValues(dump.out, "pid")) {
    const long p = std::atol(pid.c_str());
    if (p > 0 && p != server.pid() && ::kill(static_cast<pid_t>(p), 0) == 0) ++live;
  }
  return live;
}

class ReloadAttackTest : public ::testing::Test {
 protected:
  void SetUp() override { files_ = MakeServedFiles(root_.path(), 10, 2000, 3000, 11); }
  std::string Config(const std::string& body) {
    const std::string path = dir_ / "fc.conf";
    WriteText(path, body);
    return path;
  }
  TempDir root_, dir_;
  std::vector<ServedFile> files_;
};

// 100 SIGHUPs in 2 s under load: the master stays up, the workers and slots
// settle at the configured count (no leak), and no request fails.
TEST_F(ReloadAttackTest, AHundredSighupsInTwoSecondsUnderLoad) {
  const std::string conf = Config("root = " + root_.path() + "\nworkers = 2\n");
  Server server("", {"--config", conf, "--shutdown-timeout", "5", "--access-log", "off"});
  ASSERT_TRUE(server.started()) << server.Log();
  HttpLoad load(server.port(), files_, /*keep_alive_clients=*/3, /*one_shot_clients=*/1);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0) << "the master is gone after " << i << " SIGHUPs";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Once the last reload is done, two workers and two live slots.
  EXPECT_TRUE(WaitUntil([&] { return server.WorkerPids().size() == 2 && LiveSlots(server) == 2; }, 30'000))
      << server.WorkerPids().size() << " workers, " << LiveSlots(server) << " live slots\n" << server.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  load.Stop();
  EXPECT_EQ(::kill(server.pid(), 0), 0);
  EXPECT_GT(load.requests(), 100u);
  EXPECT_EQ(load.failures(), 0u) << load.first_failure();
  EXPECT_EQ(server.Shmdump({"--check"}).exit_code, 0);
  EXPECT_EQ(server.Stop(), 0);
}

// More workers than the segment's slots allow during a reload: the most the
// slots allow run, the log says why, and a restart is named as the way.
TEST_F(ReloadAttackTest, AReloadToMoreWorkersThanSlotsRunsTheMostItCan) {
  const std::string conf = Config("root = " + root_.path() + "\nworkers = 2\n");
  Server server("", {"--config", conf});
  ASSERT_TRUE(server.started()) << server.Log();
  WriteText(conf, "root = " + root_.path() + "\nworkers = 100\n");
  const size_t mark = server.Log().size();
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("reload: done", mark) != std::string::npos; }, 30'000))
      << server.Log();
  EXPECT_NE(server.Log().find("--workers 100 needs a restart (the cache has slots for 8", mark), std::string::npos)
      << server.Log();
  EXPECT_TRUE(WaitUntil([&] { return server.WorkerPids().size() == 8; }, 10'000)) << server.WorkerPids().size();
  EXPECT_EQ(LiveSlots(server), 8u);
  EXPECT_EQ(server.Shmdump({"--check"}).exit_code, 0);
}

// A reload that moves the root to one holding a symlink out of it: the new
// root is served, and the symlink stays refused as in any root.
TEST_F(ReloadAttackTest, AReloadToARootWithASymlinkOutStillConfines) {
  TempDir other, outside;
  WriteText(other / "in.txt", "inside");
  WriteText(outside / "secret.txt", "SECRET-BYTES");
  ASSERT_EQ(::symlink((outside / "secret.txt").c_str(), (other / "out.txt").c_str()), 0);
  ASSERT_EQ(::symlink(outside.path().c_str(), (other / "outdir").c_str()), 0);
  const std::string conf = Config("root = " + root_.path() + "\nworkers = 2\n");
  Server server("", {"--config", conf});
  ASSERT_TRUE(server.started()) << server.Log();
  const std::vector<pid_t> old_workers = server.WorkerPids();
  WriteText(conf, "root = " + other.path() + "\nworkers = 2\n");
  const size_t mark = server.Log().size();
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("reload: done", mark) != std::string::npos; }, 30'000))
      << server.Log();
  // The old workers drain after "reload: done" and may still accept for a
  // moment from the shared socket: ask once they are gone.
  ASSERT_TRUE(WaitUntil([&] {
    for (pid_t pid : server.WorkerPids()) {
      if (std::find(old_workers.begin(), old_workers.end(), pid) != old_workers.end()) return false;
    }
    return true;
  }, 30'000)) << server.Log();
  auto get = [&](const std::string& target) {
    RawConnection conn(server.port());
    HttpResponse r;
    conn.Send("GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ReadHttpResponse(conn, &r);
    return r;
  };
  EXPECT_EQ(get("/in.txt").body, "inside");
  for (const char* target : {"/out.txt", "/outdir/secret.txt"}) {
    const HttpResponse r = get(target);
    EXPECT_EQ(r.status, 403) << target;
    EXPECT_EQ(r.body.find("SECRET-BYTES"), std::string::npos) << target;
  }
  EXPECT_EQ(get("/f1.bin").status, 404) << "the old root is no longer served";
}

// GET `target` on a fresh connection.
HttpResponse GetOnce(uint16_t port, const std::string& target) {
  return SendHttp(port, "GET " + target + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
}

// Waits for "reload: done" (or "incomplete") after `mark`, then until none of
// `old_workers` serves any more.
void AwaitReload(const Server& server, size_t mark, const std::vector<pid_t>& old_workers) {
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("reload: ", mark) != std::string::npos &&
                                     (server.Log().find("reload: done", mark) != std::string::npos ||
                                      server.Log().find("reload: incomplete", mark) != std::string::npos); },
                        30'000)) << server.Log();
  ASSERT_TRUE(WaitUntil([&] {
    for (pid_t pid : server.WorkerPids()) {
      if (std::find(old_workers.begin(), old_workers.end(), pid) != old_workers.end()) return false;
    }
    return true;
  }, 30'000)) << server.Log();
}

// A reload to a root whose symlink leads into the old root: what the old root
// had cached under that name is not served (entries are keyed by root); the
// new root confines as a fresh server would (403).
TEST_F(ReloadAttackTest, AReloadToANewRootNeverServesTheOldRootsCachedBytes) {
  TempDir next;
  // The same name in both: a directory in the old root, a symlink to it in
  // the new one (a fresh server on the new root refuses it: it leads out).
  ::mkdir((root_ / "sub").c_str(), 0755);
  WriteText(root_ / "sub/secret.txt", "OLD-ROOT-SECRET");
  ASSERT_EQ(::symlink((root_ / "sub").c_str(), (next / "sub").c_str()), 0);
  const std::string conf = Config("root = " + root_.path() + "\nworkers = 2\n");
  Server server("", {"--config", conf});
  ASSERT_TRUE(server.started()) << server.Log();
  for (int i = 0; i < 4; ++i) ASSERT_EQ(GetOnce(server.port(), "/sub/secret.txt").body, "OLD-ROOT-SECRET");
  const std::vector<pid_t> old_workers = server.WorkerPids();
  WriteText(conf, "root = " + next.path() + "\nworkers = 2\n");
  const size_t mark = server.Log().size();
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  AwaitReload(server, mark, old_workers);
  for (int i = 0; i < 8; ++i) {
    const HttpResponse r = GetOnce(server.port(), "/sub/secret.txt");
    EXPECT_EQ(r.status, 403) << r.body;
    EXPECT_EQ(r.body.find("OLD-ROOT-SECRET"), std::string::npos);
  }
}

// A reload whose log files cannot be opened changes nothing, and says why
// naming the file (as a missing upload-token file already did).
TEST_F(ReloadAttackTest, AReloadNamingALogFileThatCannotBeOpenedKeepsTheRunningConfiguration) {
  const std::string conf = Config("root = " + root_.path() + "\nworkers = 2\ncache-control = before\n");
  Server server("", {"--config", conf});
  ASSERT_TRUE(server.started()) << server.Log();
  const std::vector<pid_t> workers = server.WorkerPids();
  for (const char* key : {"access-log", "error-log"}) {
    const std::string missing = dir_ / ("no-such-dir/" + std::string(key) + ".log");
    WriteText(conf, "root = " + root_.path() + "\nworkers = 2\ncache-control = after\n" + key + " = " + missing + "\n");
    const size_t mark = server.Log().size();
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(WaitUntil([&] { return server.Log().find("keeping the running configuration", mark) != std::string::npos; },
                          10'000)) << server.Log();
    EXPECT_NE(server.Log().find(missing, mark), std::string::npos) << server.Log();
    EXPECT_EQ(server.Log().find("reload: done", mark), std::string::npos) << server.Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(server.WorkerPids(), workers) << "no worker was replaced";
    EXPECT_EQ(GetOnce(server.port(), "/f1.bin").Header("Cache-Control"), "before");
  }
}

// A second SIGHUP with another configuration while the first is replacing
// workers: once it settles, every worker runs the second.
TEST_F(ReloadAttackTest, TwoReloadsInARowEndWithEveryWorkerOnTheSecond) {
  const std::string conf = Config("root = " + root_.path() + "\nworkers = 2\ncache-control = v0\n");
  Server server("", {"--config", conf});
  ASSERT_TRUE(server.started()) << server.Log();
  const std::vector<pid_t> old_workers = server.WorkerPids();
  WriteText(conf, "root = " + root_.path() + "\nworkers = 2\ncache-control = v1\n");
  size_t mark = server.Log().size();
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("one at a time", mark) != std::string::npos; }, 10'000))
      << server.Log();
  WriteText(conf, "root = " + root_.path() + "\nworkers = 2\ncache-control = v2\n");
  mark = server.Log().size();
  ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
  AwaitReload(server, mark, old_workers);
  // And the first reload's workers are gone too.
  ASSERT_TRUE(WaitUntil([&] { return server.WorkerPids().size() == 2; }, 20'000)) << server.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  for (int i = 0; i < 24; ++i) {
    EXPECT_EQ(GetOnce(server.port(), "/f1.bin").Header("Cache-Control"), "v2") << "request " << i << "\n" << server.Log();
  }
}

// Binary upgrades that go wrong. After each: the port serves, the segment
// passes --check, no process is left over, and /dev/shm holds exactly one
// segment of this server.
class UpgradeAttackTest : public ::testing::Test {
 protected:
  void SetUp() override { WriteText(root_ / "a.txt", "served"); }
  void ExpectHealthy(const Server& server) {
    EXPECT_EQ(SendHttp(server.port(), "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").body, "served") << server.Log();
    ToolResult check = server.Shmdump({"--check", "--lock-timeout", "1000"});
    EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
    size_t segments = 0;
    if (DIR* d = ::opendir("/dev/shm")) {
      while (dirent* e = ::readdir(d)) segments += std::string(e->d_name) == server.shm_name();
      ::closedir(d);
    }
    EXPECT_EQ(segments, 1u);
  }
  // Processes whose parent is gone and that run this test's fc-master.
  size_t Orphans(pid_t master) {
    size_t n = 0;
    if (DIR* d = ::opendir("/proc")) {
      while (dirent* e = ::readdir(d)) {
        const pid_t pid = static_cast<pid_t>(std::atol(e->d_name));
        if (pid <= 0) continue;
        const std::string cmd = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/cmdline");
        if (cmd.find(root_.path()) == std::string::npos) continue;
        const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
        const size_t paren = stat.rfind(')');
        if (paren == std::string::npos) continue;
        const long ppid = std::atol(stat.c_str() + paren + 4);
        if (pid != master && ppid != master && ppid != ::getpid()) ++n;
      }
      ::closedir(d);
    }
    return n;
  }
  // An executable shell script `name` in dir_ holding `body`; its path.
  std::string Script(const std::string& name, const std::string& body) {
    const std::string path = dir_ / name;
    WriteText(path, "#!/bin/sh\n" + body);
    ::chmod(path.c_str(), 0755);
    return path;
  }
  TempDir root_, dir_;
};

TEST_F(UpgradeAttackTest, BinariesThatExitHangOrCannotRunLeaveTheOldMasterServing) {
  const std::string exits = Script("exits.sh", "exit 3\n"), hangs = Script("hangs.sh", "exec sleep 60\n");
  const std::string plain = dir_ / "plain.txt";
  WriteText(plain, "not a program\n");
  ::chmod(plain.c_str(), 0644);
  for (const std::string& binary : {exits, hangs, plain}) {
    Server server(root_.path(), {"--upgrade-binary", binary, "--upgrade-timeout", "1"});
    ASSERT_TRUE(server.started()) << server.Log();
    const size_t mark = server.Log().size();
    ASSERT_EQ(::kill(server.pid(), SIGUSR2), 0);
    EXPECT_TRUE(WaitUntil([&] {
      const std::string log = server.Log().substr(mark);
      return log.find("keeps serving") != std::string::npos || log.find("cannot") != std::string::npos ||
             log.find("failed") != std::string::npos;
    }, 10'000)) << binary << "\n" << server.Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    ExpectHealthy(server);
    EXPECT_EQ(Orphans(server.pid()), 0u) << binary;
    EXPECT_EQ(JsonNumber(server.Shmdump({"--json"}).out, "master_pid"), static_cast<uint64_t>(server.pid()));
    EXPECT_EQ(server.Stop(), 0) << binary;
  }
}

TEST_F(UpgradeAttackTest, TwoSigusr2InARowStartOneUpgrade) {
  const std::string hangs = Script("hangs.sh", "exec sleep 60\n");
  Server server(root_.path(), {"--upgrade-binary", hangs, "--upgrade-timeout", "2"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_EQ(::kill(server.pid(), SIGUSR2), 0);
  // The second once the first is taken (two pending SIGUSR2 are one signal).
  ASSERT_TRUE(server.WaitForLog(" as pid ", 5000)) << server.Log();
  ASSERT_EQ(::kill(server.pid(), SIGUSR2), 0);
  EXPECT_TRUE(server.WaitForLog("already under way", 5000)) << server.Log();
  EXPECT_TRUE(server.WaitForLog("keeps serving", 10'000)) << server.Log();
  ExpectHealthy(server);
  EXPECT_EQ(Orphans(server.pid()), 0u);
}

// The real binary as the new master, SIGKILLed while it starts its workers:
// the old master reaps it, reclaims its slots and serves on.
TEST_F(UpgradeAttackTest, ANewMasterKilledMidHandOverLeavesTheOldOneServing) {
  // The new binary takes a moment before it execs the real fc-master, so
  // the kill lands before it serves (a hand-over finished first is another
  // case: the new master is then the service, and killing it is a stop).
  const std::string slow = Script("slow.sh", "sleep 0.5\nexec " + MasterBin() + " \"$@\"\n");
  Server server(root_.path(), {"--upgrade-timeout", "10", "--upgrade-binary", slow});
  ASSERT_TRUE(server.started()) << server.Log();
  const size_t mark = server.Log().size();
  ASSERT_EQ(::kill(server.pid(), SIGUSR2), 0);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find(" as pid ", mark) != std::string::npos; }, 10'000))
      << server.Log();
  const pid_t child = static_cast<pid_t>(NumberAfter(server.Log(), " as pid ", mark));
  ASSERT_GT(child, 0);
  ::kill(child, SIGKILL);
  EXPECT_TRUE(WaitUntil([&] { return server.Log().find("keeps serving", mark) != std::string::npos ||
                                     server.Log().find("stays with the new master", mark) != std::string::npos; },
                        15'000)) << server.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // the stranger scan reclaims its workers' slots
  ExpectHealthy(server);
  EXPECT_EQ(Orphans(server.pid()), 0u) << server.Log();
}

// SIGTERM to the old master during the hand-over: it stops as asked, and so
// does the hand-over (the new master is its child and goes with it); nothing
// is left behind. If the hand-over finished before the SIGTERM arrived, the
// new master is the service: it keeps serving, untouched by the old one's
// stop, and cleans up when it is stopped itself.
TEST_F(UpgradeAttackTest, SigtermToTheOldMasterDuringTheHandOverLeavesNothing) {
  auto server = std::make_unique<Server>(root_.path(), std::vector<std::string>{"--upgrade-timeout", "10"});
  ASSERT_TRUE(server->started()) << server->Log();
  const std::string shm = server->shm_name();
  const uint16_t port = server->port();
  const pid_t master = server->pid();
  const size_t mark = server->Log().size();
  ASSERT_EQ(::kill(master, SIGUSR2), 0);
  ASSERT_TRUE(WaitUntil([&] { return server->Log().find(" as pid ", mark) != std::string::npos; }, 10'000))
      << server->Log();
  const pid_t child = static_cast<pid_t>(NumberAfter(server->Log(), " as pid ", mark));
  ASSERT_EQ(::kill(master, SIGTERM), 0);
  const std::string log_path = server->log_path();
  const int status = server->Stop();
  const std::string log = ReadFileOrEmpty(log_path);
  EXPECT_EQ(status, 0) << log;
  if (log.find("stays with the new master", mark) != std::string::npos) {
    EXPECT_EQ(::kill(child, 0), 0) << "the old master's stop took the new master down\n" << log;
    EXPECT_EQ(SendHttp(port, "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").body, "served") << log;
    ::kill(child, SIGTERM);
  }
  EXPECT_TRUE(WaitUntil([&] { return ::kill(child, 0) != 0; }, 15'000)) << "the new master " << child << " is left\n" << log;
  EXPECT_TRUE(WaitUntil([&] { return !FileExists("/dev/shm/" + shm); }, 15'000)) << log;
  // The new master's workers outlive it by their own drain or death watch:
  // they must be gone soon, not at the instant it is.
  EXPECT_TRUE(WaitUntil([&] { return Orphans(master) == 0u; }, 15'000)) << Orphans(master) << " left\n" << log;
}

// Whether a process whose command line holds `marker` is alive (not a zombie).
bool AnyProcessWith(const std::string& marker) {
  bool found = false;
  if (DIR* d = ::opendir("/proc")) {
    while (dirent* e = ::readdir(d)) {
      const std::string pid = e->d_name;
      if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::string cmd = ReadFileOrEmpty("/proc/" + pid + "/cmdline");
      std::replace(cmd.begin(), cmd.end(), '\0', ' ');
      const std::string stat = ReadFileOrEmpty("/proc/" + pid + "/stat");
      const size_t paren = stat.rfind(')');
      const bool zombie = paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
      if (!zombie && cmd.find(marker) != std::string::npos) found = true;
    }
    ::closedir(d);
  }
  return found;
}

// A wrapper that never serves and leaves a child holding the inherited
// listening sockets: at the deadline the old master kills the whole group,
// so nothing keeps the port (review item 9).
TEST_F(UpgradeAttackTest, AHungWrapperIsKilledWithEverythingItStarted) {
  const std::string wrapper = Script("wrapper.sh", "sleep 61.4242 &\nsleep 61.4243\n");
  Server server(root_.path(), {"--upgrade-binary", wrapper, "--upgrade-timeout", "1"});
  ASSERT_TRUE(server.started()) << server.Log();
  const size_t mark = server.Log().size();
  ASSERT_EQ(::kill(server.pid(), SIGUSR2), 0);
  ASSERT_TRUE(WaitUntil([&] { return AnyProcessWith("sleep 61.4242"); }, 5000)) << server.Log();
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("did not serve within the deadline", mark) != std::string::npos; },
                        10'000)) << server.Log();
  EXPECT_TRUE(WaitUntil([&] { return !AnyProcessWith("sleep 61.4242") && !AnyProcessWith("sleep 61.4243"); }, 5000))
      << "the wrapper's children outlived the failed upgrade";
  ExpectHealthy(server);
}

// After a hand-over, the old master may have to force a stuck worker past
// --shutdown-timeout: that never touches the new master, which serves on.
TEST_F(UpgradeAttackTest, TheOldMastersForcedStopLeavesTheNewMasterServing) {
  Server server(root_.path(), {"--shutdown-timeout", "1", "--workers", "2"});
  ASSERT_TRUE(server.started()) << server.Log();
  const std::vector<pid_t> old_workers = server.WorkerPids();
  ASSERT_FALSE(old_workers.empty());
  ASSERT_EQ(::kill(old_workers[0], SIGSTOP), 0);  // it cannot drain: the old master must kill it
  const size_t mark = server.Log().size();
  ASSERT_EQ(::kill(server.pid(), SIGUSR2), 0);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("upgrade: new master pid", mark) != std::string::npos; },
                        30'000)) << server.Log();
  const pid_t new_master = static_cast<pid_t>(NumberAfter(server.Log(), " as pid ", mark));
  ASSERT_GT(new_master, 0);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("stays with the new master", mark) != std::string::npos; },
                        20'000)) << server.Log();
  EXPECT_NE(server.Log().find("killing them", mark), std::string::npos) << "the stop was forced\n" << server.Log();
  EXPECT_EQ(::kill(new_master, 0), 0) << "the new master was killed\n" << server.Log();
  EXPECT_EQ(SendHttp(server.port(), "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").body, "served") << server.Log();
  ::kill(new_master, SIGTERM);
  EXPECT_TRUE(WaitUntil([&] { return ::kill(new_master, 0) != 0; }, 20'000));
  EXPECT_TRUE(WaitUntil([&] { return !FileExists("/dev/shm/" + server.shm_name()); }, 20'000)) << server.Log();
}

}  // namespace
}  // namespace fc::testing
