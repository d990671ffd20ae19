// fc run as a service: the config file, reload (SIGHUP), log reopening
// (SIGUSR1), binary upgrade with a warm cache (SIGUSR2), access logs, metrics,
// systemd's notify protocol and socket activation. Real fc-masters on port 0.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

#include "harness.h"
#include "http_load.h"

extern char** environ;

namespace fc::testing {
namespace {

using Clock = std::chrono::steady_clock;

bool Alive(pid_t pid) { return ::kill(pid, 0) == 0; }


// One plain HTTP GET on a new connection (status 0 if it failed).
HttpResponse Get(uint16_t port, const std::string& target) {
  RawConnection conn(port);
  HttpResponse response;
  if (!conn.connected()) return response;
  conn.Send("GET " + target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  if (!ReadHttpResponse(conn, &response)) response.status = 0;
  return response;
}

int GetStatus(uint16_t port, const std::string& target) { return Get(port, target).status; }
std::string GetBody(uint16_t port, const std::string& target) { return Get(port, target).body; }

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { files_ = MakeServedFiles(root_.path(), 20, 1000, 4096, 7); }
  // A config file for root_, with `extra` lines.
  std::string Config(const std::string& extra) {
    const std::string path = dir_ / "fc.conf";
    WriteText(path, "# written by service_test\nroot = " + root_.path() + "\nworkers = 2\n" + extra);
    return path;
  }
  TempDir root_, dir_;
  std::vector<ServedFile> files_;
};

TEST_F(ServiceTest, ConfigFileIsReadAndFlagsOverrideIt) {
  const std::string conf = Config("threads = 1\nlog-format = json\n");
  Server server("", {"--config", conf, "--workers", "3", "--log-format", "json"});
  ASSERT_TRUE(server.started()) << server.Log();
  EXPECT_GE(server.WaitForWorkers(3, {}, 5000 * kTimeFactor), 0)
      << "--workers 3 on the command line wins over workers = 2 in the file";
  EXPECT_EQ(GetStatus(server.port(), "/f1.bin"), 200);
  EXPECT_TRUE(server.WaitForLog("\"name\":\"f1.bin\"")) << "log-format = json from the file";
}

TEST_F(ServiceTest, UnknownConfigKeyIsAnErrorNamingFileAndLine) {
  const std::string conf = Config("threads = 1\nworkres = 3\n");
  ToolResult r = RunTool({MasterBin(), "--config", conf, "--port", "0"}, 10'000);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(conf + ":5: unknown key \"workres\""), std::string::npos) << r.err;
  WriteText(conf, "root " + root_.path() + "\n");
  r = RunTool({MasterBin(), "--config", conf, "--port", "0"}, 10'000);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(conf + ":1: expected key = value"), std::string::npos) << r.err;
  r = RunTool({MasterBin(), "--config", dir_ / "missing.conf", "--port", "0"}, 10'000);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("missing.conf"), std::string::npos) << r.err;
}

TEST_F(ServiceTest, ReloadUnderLoadChangesWorkersWithoutAFailedRequest) {
  const std::string conf = Config("");
  Server server("", {"--config", conf, "--shutdown-timeout", "5", "--access-log", "off"});
  ASSERT_TRUE(server.started()) << server.Log();
  const std::vector<pid_t> before = server.WorkerPids();
  HttpLoad load(server.port(), files_, /*keep_alive_clients=*/3, /*one_shot_clients=*/1);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (const char* workers : {"3", "1", "2"}) {
    WriteText(conf, "root = " + root_.path() + "\nworkers = " + workers + "\n");
    const size_t mark = server.Log().size();
    ASSERT_EQ(::kill(server.pid(), SIGHUP), 0);
    ASSERT_TRUE(WaitUntil([&] { return server.Log().find("reload: done", mark) != std::string::npos; }, 10'000))
        << server.Log();
    EXPECT_GE(server.WaitForWorkers(static_cast<size_t>(std::atoi(workers)), before, 10'000 * kTimeFactor), 0)
        << "after the reload to " << workers << " workers:\n" << server.Log();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // load on the new set
  }
  load.Stop();
  EXPECT_GT(load.requests(), 100u);
  EXPECT_EQ(load.failures(), 0u) << load.first_failure();
  std::printf("reload under load: %llu requests, %llu failed, %llu retried after an idle close\n",
              static_cast<unsigned long long>(load.requests()),
              static_cast<unsigned long long>(load.failures()),
              static_cast<unsigned long long>(load.retries()));
}

TEST_F(ServiceTest, BadConfigOnReloadKeepsTheRunningOneAndRestartOnlySettingsAreKept) {
  const std::string conf = Config("");
  Server server("", {"--config", conf});
  ASSERT_TRUE(server.started()) << server.Log();
  const std::vector<pid_t> before = server.WorkerPids();
  WriteText(conf, "root = " + root_.path() + "\nworkers = 2\nthreads = many\n");
  size_t mark = server.Log().size();
  ::kill(server.pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("keeping the running configuration", mark) !=
                                     std::string::npos; }, 5000))
      << server.Log();
  EXPECT_EQ(server.WorkerPids(), before) << "a bad file replaces no worker";
  EXPECT_EQ(GetStatus(server.port(), "/f2.bin"), 200);
  // A cache size lives in the segment: logged, kept, the rest applied.
  WriteText(conf, "root = " + root_.path() + "\nworkers = 2\ncache-size = 32M\n");
  mark = server.Log().size();
  ::kill(server.pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("reload: done", mark) != std::string::npos; }, 10'000))
      << server.Log();
  EXPECT_NE(server.Log().find("--cache-size needs a restart; keeping 67108864 bytes", mark), std::string::npos)
      << server.Log();
  ToolResult dump = server.Shmdump({"--json"});
  EXPECT_EQ(JsonNumber(dump.out, "segment_size"), 64u << 20) << dump.out;
}

// A root that is a file, at the start and on a reload: each says so, naming
// it (the reload once reported a stale errno here).
TEST_F(ServiceTest, ARootThatIsNotADirectoryIsRefusedAtTheStartAndOnAReload) {
  WriteText(dir_ / "plain.txt", "not a directory\n");
  const ToolResult start = RunTool({MasterBin(), "--root", dir_ / "plain.txt", "--port", "0"});
  EXPECT_EQ(start.exit_code, 1);
  EXPECT_NE(start.err.find("cannot serve \"" + dir_ / "plain.txt" + "\": not a directory"), std::string::npos)
      << start.err;
  const std::string conf = Config("");
  Server server("", {"--config", conf});
  ASSERT_TRUE(server.started()) << server.Log();
  WriteText(conf, "root = " + dir_ / "plain.txt" + "\nworkers = 2\n");
  const size_t mark = server.Log().size();
  ::kill(server.pid(), SIGHUP);
  const std::string said = "SIGHUP: cannot serve \"" + dir_ / "plain.txt" +
                           "\": not a directory; keeping the running configuration";
  EXPECT_TRUE(WaitUntil([&] { return server.Log().find(said, mark) != std::string::npos; }, 5000)) << server.Log();
  EXPECT_EQ(GetStatus(server.port(), "/f2.bin"), 200);
}

// The new master of an upgrade: its pid, from the old one's log.
pid_t NewMasterPid(const Server& server) {
  return static_cast<pid_t>(NumberAfter(server.Log(), " as pid "));
}

void StopNewMaster(pid_t pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  if (!WaitUntil([pid] { return !Alive(pid); }, 20'000)) ::kill(pid, SIGKILL);
}

TEST_F(ServiceTest, UpgradeUnderLoadDropsNothingAndKeepsTheCacheWarm) {
  Server server(root_.path(), {"--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(server.WaitForLog("metrics at http://127.0.0.1:"));
  const uint16_t metrics_port = static_cast<uint16_t>(NumberAfter(server.Log(), "metrics at http://127.0.0.1:"));
  // Warm the cache: every file once.
  for (const ServedFile& f : files_) ASSERT_EQ(GetStatus(server.port(), "/" + f.name), 200);
  auto hits_and_misses = [&] {
    const std::string m = "\n" + GetBody(metrics_port, "/metrics");
    return std::make_pair(NumberAfter(m, "\nfc_cache_hits_total "), NumberAfter(m, "\nfc_cache_misses_total "));
  };
  const auto warm = hits_and_misses();
  HttpLoad load(server.port(), files_, 3, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const pid_t old_master = server.pid();
  ASSERT_EQ(::kill(old_master, SIGUSR2), 0);
  ASSERT_TRUE(server.WaitForLog("upgrade: new master pid", 30'000 * kTimeFactor)) << server.Log();
  const pid_t new_master = NewMasterPid(server);
  ASSERT_GT(new_master, 0);
  // The old master drains its workers and exits; the new one keeps the port.
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("stays with the new master") != std::string::npos; },
                        20'000))
      << server.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // load on the new master alone
  load.Stop();
  EXPECT_EQ(load.failures(), 0u) << load.first_failure() << "\n" << server.Log();
  EXPECT_GT(load.requests(), 100u);
  // The first request after the upgrade for a file cached before it is a hit.
  const auto before = hits_and_misses();
  EXPECT_EQ(GetStatus(server.port(), "/f3.bin"), 200);
  const auto after = hits_and_misses();
  EXPECT_EQ(after.first, before.first + 1) << "a hit";
  EXPECT_EQ(after.second, before.second) << "no miss";
  EXPECT_EQ(before.second, warm.second) << "no miss across the whole upgrade";
  EXPECT_NE(server.Log().find("attached to the running cache"), std::string::npos);
  ToolResult dump = server.Shmdump({"--json"});
  EXPECT_EQ(JsonNumber(dump.out, "master_pid"), static_cast<uint64_t>(new_master)) << dump.out;
  EXPECT_EQ(JsonNumber(dump.out, "layout_version"), 7u) << dump.out;
  ToolResult check = server.Shmdump({"--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  std::printf("upgrade under load: %llu requests, %llu failed, %llu retried after an idle close\n",
              static_cast<unsigned long long>(load.requests()),
              static_cast<unsigned long long>(load.failures()),
              static_cast<unsigned long long>(load.retries()));
  StopNewMaster(new_master);
  EXPECT_TRUE(server.WaitForLog("removed segment")) << "the new master cleans up on stop";
}

TEST_F(ServiceTest, FailedUpgradeLeavesTheOldMasterServing) {
  // A binary that never serves: killed at the deadline.
  const std::string stuck = dir_ / "stuck.sh";
  WriteText(stuck, "#!/bin/sh\nexec sleep 60\n");
  ::chmod(stuck.c_str(), 0755);
  Server server(root_.path(), {"--upgrade-binary", stuck, "--upgrade-timeout", "1"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_EQ(GetStatus(server.port(), "/f1.bin"), 200);
  ::kill(server.pid(), SIGUSR2);
  ASSERT_TRUE(server.WaitForLog("did not serve within the deadline; the old master keeps serving", 10'000))
      << server.Log();
  EXPECT_EQ(GetStatus(server.port(), "/f1.bin"), 200);
  ToolResult dump = server.Shmdump({"--json"});
  EXPECT_EQ(JsonNumber(dump.out, "master_pid"), static_cast<uint64_t>(server.pid()));
  // A binary that is not there: refused at once.
  Server missing(root_.path(), {"--upgrade-binary", dir_ / "no-such-fc-master"});
  ASSERT_TRUE(missing.started());
  ::kill(missing.pid(), SIGUSR2);
  EXPECT_TRUE(missing.WaitForLog("no-such-fc-master")) << missing.Log();
  EXPECT_EQ(GetStatus(missing.port(), "/f1.bin"), 200);
  EXPECT_EQ(missing.Stop(), 0);
}

TEST_F(ServiceTest, AccessLogFormatsAndReopenOnSigusr1) {
  const std::string log = dir_ / "access.log";
  Server combined(root_.path(), {"--access-log", log, "--log-format", "combined"});
  ASSERT_TRUE(combined.started()) << combined.Log();
  RawConnection conn(combined.port());
  conn.Send("GET /f1.bin HTTP/1.1\r\nHost: t\r\nUser-Agent: tester \"quoted\"\r\nReferer: http://r/\r\n\r\n");
  HttpResponse response;
  ASSERT_TRUE(ReadHttpResponse(conn, &response));
  ASSERT_TRUE(WaitUntil([&] { return !ReadFileOrEmpty(log).empty(); }, 3000)) << "written within a second";
  const std::regex line(
      R"(127\.0\.0\.1 - - \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] "GET /f1\.bin HTTP/1\.1" 200 5096 "http://r/" "tester \\x22quoted\\x22"\n)");
  EXPECT_TRUE(std::regex_match(ReadFileOrEmpty(log), line)) << ReadFileOrEmpty(log);
  // logrotate: move the file away, SIGUSR1, and new lines go to a new file.
  ASSERT_EQ(::rename(log.c_str(), (log + ".1").c_str()), 0);
  ::kill(combined.pid(), SIGUSR1);
  // Both workers reopen (a line written before a worker's reopen still goes
  // to the old file: what logrotate's delaycompress is for).
  ASSERT_TRUE(WaitUntil([&] {
    const std::string text = combined.Log();
    size_t count = 0;
    for (size_t at = text.find("reopened the access log"); at != std::string::npos;
         at = text.find("reopened the access log", at + 1)) {
      ++count;
    }
    return count == 2;
  }, 5000)) << combined.Log();
  ASSERT_TRUE(WaitUntil([&] {
    GetStatus(combined.port(), "/f2.bin");
    return ReadFileOrEmpty(log).find("/f2.bin") != std::string::npos;
  }, 5000)) << "the reopened file gets the new lines";
  EXPECT_EQ(ReadFileOrEmpty(log + ".1").find("/f2.bin"), std::string::npos);

  Server json(root_.path(), {"--log-format", "json"});
  ASSERT_TRUE(json.started());
  RawConnection fc_conn(json.port());
  fc_conn.Send(RawConnection::GetRequest("f4.bin"));
  protocol::ReplyHeader header;
  std::string body;
  ASSERT_TRUE(fc_conn.ReadReply(&header, &body));
  ASSERT_TRUE(json.WaitForLog("\"protocol\":\"FC/1\"")) << json.Log();
  const std::string text = json.Log();
  EXPECT_NE(text.find("\"method\":\"GET\",\"name\":\"f4.bin\",\"status\":200,\"fc_code\":\"ok\",\"cache\":\"miss\",\"bytes\":17384"),
            std::string::npos) << text;

  Server off(root_.path(), {"--access-log", "off"});
  ASSERT_TRUE(off.started());
  GetStatus(off.port(), "/f1.bin");
  EXPECT_EQ(off.Stop(), 0);
  EXPECT_EQ(off.Log().find("f1.bin"), std::string::npos) << off.Log();
}

TEST_F(ServiceTest, AccessLogIsWrittenOutOnExit) {
  const std::string log = dir_ / "exit.log";
  Server server(root_.path(), {"--access-log", log, "--log-format", "combined"});
  ASSERT_TRUE(server.started());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(GetStatus(server.port(), "/f5.bin"), 200);
  EXPECT_EQ(server.Stop(), 0);  // sooner than the one-second flush
  std::ifstream in(log);
  int lines = 0;
  for (std::string l; std::getline(in, l);) lines += l.find("/f5.bin") != std::string::npos;
  EXPECT_EQ(lines, 5);
}

TEST_F(ServiceTest, MetricsCountRequestsAndPassPromtool) {
  Server server(root_.path(), {"--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(server.WaitForLog("metrics at http://127.0.0.1:"));
  const uint16_t port = static_cast<uint16_t>(NumberAfter(server.Log(), "metrics at http://127.0.0.1:"));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(GetStatus(server.port(), "/f1.bin"), 200);
  const HttpResponse not_found = Get(server.port(), "/missing");
  EXPECT_EQ(not_found.status, 404);
  const long not_found_body = static_cast<long>(not_found.body.size());
  RawConnection conn(server.port());
  conn.Send(RawConnection::GetRequest("f2.bin"));
  protocol::ReplyHeader header;
  std::string body;
  ASSERT_TRUE(conn.ReadReply(&header, &body));
  std::string metrics, content_type;
  ASSERT_TRUE(WaitUntil([&] {
    const HttpResponse r = Get(port, "/metrics");
    metrics = "\n" + r.body;
    content_type = r.Header("Content-Type");
    // A response is counted once its last byte is written: the client may
    // read it a moment before, so wait for all five.
    return metrics.find("fc_requests_total{protocol=\"fc\"") != std::string::npos &&
           NumberAfter(metrics, "\nfc_request_duration_seconds_count ") == 5;
  }, 3000)) << metrics;
  EXPECT_EQ(content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.find("\nfc_requests_total{protocol=\"http\",op=\"get\",status=\"200\"} 3\n"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("fc_requests_total{protocol=\"http\",op=\"get\",status=\"404\"} 1\n"), std::string::npos);
  EXPECT_NE(metrics.find("fc_requests_total{protocol=\"fc\",op=\"get\",status=\"200\"} 1\n"), std::string::npos);
  EXPECT_EQ(NumberAfter(metrics, "\nfc_cache_hits_total "), 2);
  EXPECT_EQ(NumberAfter(metrics, "\nfc_cache_loads_total "), 2);
  EXPECT_EQ(NumberAfter(metrics, "\nfc_cache_entries "), 2);
  EXPECT_EQ(NumberAfter(metrics, "\nfc_request_duration_seconds_count "), 5);
  EXPECT_EQ(NumberAfter(metrics, "\nfc_sent_bytes_total "), 3 * 5096 + not_found_body + 9192);
  // A worker killed from outside counts as a restart.
  const std::vector<pid_t> workers = server.WorkerPids();
  ::kill(workers[0], SIGKILL);
  ASSERT_TRUE(WaitUntil([&] {
    return NumberAfter("\n" + GetBody(port, "/metrics"), "\nfc_worker_restarts_total ") == 1;
  }, 5000));
  EXPECT_EQ(GetStatus(port, "/other"), 404);
  // promtool, from Debian's prometheus package (scripts/install-deps.sh).
  if (::access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool is not installed";
  const std::string file = dir_ / "metrics.txt";
  WriteText(file, GetBody(port, "/metrics"));
  ToolResult check = RunTool({"/bin/sh", "-c", "/usr/bin/promtool check metrics < " + file}, 30'000);
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
}

// Receives systemd notify datagrams on a socket named by NOTIFY_SOCKET.
class NotifySocket {
 public:
  explicit NotifySocket(const std::string& path) : path_(path) {
    fd_.Reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path.c_str());
    ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    timeval tv{0, 100'000};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  // Waits for a message containing `text`; returns every message read.
  bool WaitFor(const std::string& text, int timeout_ms) {
    const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms * kTimeFactor);
    while (Clock::now() < deadline) {
      char buf[4096];
      const ssize_t n = ::recv(fd_.get(), buf, sizeof(buf), 0);
      if (n > 0) {
        const std::string message(buf, static_cast<size_t>(n));
        seen_ += message + "|";
        if (message.find(text) != std::string::npos) return true;
      }
    }
    return false;
  }
  const std::string& seen() const { return seen_; }

 private:
  std::string path_;
  UniqueFd fd_;
  std::string seen_;
};

TEST_F(ServiceTest, NotifiesReadyReloadingAndStopping) {
  const std::string path = dir_ / "notify.sock";
  NotifySocket notify(path);
  Server server(root_.path(), {}, {"NOTIFY_SOCKET=" + path});
  ASSERT_TRUE(server.started());
  ASSERT_TRUE(notify.WaitFor("READY=1", 5000)) << notify.seen();
  EXPECT_NE(notify.seen().find("MAINPID=" + std::to_string(server.pid())), std::string::npos) << notify.seen();
  ::kill(server.pid(), SIGHUP);
  ASSERT_TRUE(notify.WaitFor("RELOADING=1", 5000)) << notify.seen();
  EXPECT_NE(notify.seen().find("MONOTONIC_USEC="), std::string::npos);
  ASSERT_TRUE(notify.WaitFor("READY=1", 10'000)) << notify.seen();
  ::kill(server.pid(), SIGTERM);
  EXPECT_TRUE(notify.WaitFor("STOPPING=1", 5000)) << notify.seen();
}

TEST_F(ServiceTest, ServesOnASocketPassedBySocketActivation) {
  // What systemd does for fc.socket: bind, listen, and start fc-master with
  // the socket as descriptor 3, LISTEN_FDS=1 and LISTEN_PID=its pid.
  UniqueFd listener(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(::listen(listener.get(), 64), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  const uint16_t port = ntohs(addr.sin_port);
  const std::string log = dir_ / "activated.log";
  std::vector<std::string> args = {"/bin/sh", "-c",
                                   "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" --root \"$1\" --port 0 --user \"$2\" 2>\"$3\"",
                                   MasterBin(), root_.path(), ::geteuid() == 0 ? "root" : "", log};
  if (::geteuid() != 0) args[2] = "LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" --root \"$1\" --port 0 2>\"$3\"";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, listener.get(), 3);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  ASSERT_EQ(posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  listener.Reset();  // only fc holds it now
  EXPECT_TRUE(WaitUntil([&] { return GetStatus(port, "/f1.bin") == 200; }, 5000)) << ReadFileOrEmpty(log);
  EXPECT_TRUE(WaitUntil([&] {
    return ReadFileOrEmpty(log).find("on 127.0.0.1:" + std::to_string(port)) != std::string::npos;
  }, 5000)) << ReadFileOrEmpty(log);
  ::kill(pid, SIGTERM);
  int status = 0;
  ASSERT_TRUE(WaitUntil([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 20'000));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFileOrEmpty(log);
}

}  // namespace
}  // namespace fc::testing
