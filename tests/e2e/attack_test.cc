// The surfaces added since the last review, attacked: the stream-checksum
// memo against files rewritten in place, privilege plants where root creates
// or opens what the user it drops to can write, the metrics port, and the
// access log's escaping, rotation and a full disk (reload and upgrade:
// lifecycle_attack_test.cc). Real fc-masters on port 0.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

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

std::string Hex(uint64_t v) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(v));
  return hex;
}

std::string HexOf(const std::string& bytes) { return Hex(Checksum64::Of(bytes.data(), bytes.size())); }

// Overwrites `path` in place (same inode, same size) with `bytes`.
void Rewrite(const std::string& path, const std::string& bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::pwrite(fd, bytes.data(), bytes.size(), 0), static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

std::string Pattern(size_t size, char seed) {
  std::string s(size, '\0');
  for (size_t i = 0; i < size; ++i) s[i] = static_cast<char>(seed + i * 7 + (i >> 12));
  return s;
}

HttpResponse WantChecksum(uint16_t port, const std::string& name) {
  RawConnection conn(port);
  HttpResponse r;
  EXPECT_TRUE(conn.Send("GET /" + name + " HTTP/1.1\r\nHost: x\r\nX-Fc-Want-Checksum: xxh64\r\n\r\n"));
  EXPECT_TRUE(ReadHttpResponse(conn, &r));
  return r;
}

// A streamed file's checksum is memoised by identity in the segment. Rewritten
// in place with the same size, once at once and once with its old mtime put
// back (touch -d): the identity includes the ctime, which every write and
// utimes() moves and no one can set, so the memo never pairs the bytes of one
// version with the checksum of another; a file changed within the clock's
// granularity of now is not memoised at all (loader.cc, kRacyNs).
TEST(AttackTest, AFileRewrittenInPlaceNeverGetsTheOldVersionsChecksum) {
  TempDir root, out;
  const std::string path = root / "m.bin";
  const size_t size = 3 << 20;  // over the 1 MiB cache: streamed, so its checksum is memoised
  const std::string a = Pattern(size, 'a'), b = Pattern(size, 'b'), c = Pattern(size, 'c');
  WriteText(path, a);
  std::this_thread::sleep_for(std::chrono::milliseconds(150));  // past the racy window: memoised
  Server server(root.path(), {"--cache-size", "1M"});
  ASSERT_TRUE(server.started()) << server.Log();
  HttpResponse first = WantChecksum(server.port(), "m.bin");
  ASSERT_EQ(first.status, 200);
  ASSERT_EQ(first.Header("X-Fc-Checksum"), HexOf(a));
  struct stat before;
  ASSERT_EQ(::stat(path.c_str(), &before), 0);
  // 1. Rewritten within the same second, same size, same inode.
  Rewrite(path, b);
  HttpResponse second = WantChecksum(server.port(), "m.bin");
  EXPECT_EQ(second.body == b, true) << "the new bytes";
  EXPECT_EQ(second.Header("X-Fc-Checksum"), HexOf(second.body)) << "bytes and checksum of one version";
  // 2. Rewritten again with the old mtime put back (touch -d).
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  WantChecksum(server.port(), "m.bin");  // memoise b
  Rewrite(path, c);
  const timespec times[2] = {before.st_atim, before.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  struct stat after;
  ASSERT_EQ(::stat(path.c_str(), &after), 0);
  ASSERT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
  ASSERT_EQ(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
  HttpResponse third = WantChecksum(server.port(), "m.bin");
  EXPECT_EQ(third.body == c, true) << "the restored mtime does not hide the change";
  EXPECT_EQ(third.Header("X-Fc-Checksum"), HexOf(c));
  // 3. fc-client over both protocols saves exactly the current version.
  ToolResult fc = server.Client({"get", "m.bin", out.path()});
  EXPECT_EQ(fc.exit_code, 0) << fc.err;
  EXPECT_EQ(ReadFileOrEmpty(out / "m.bin") == c, true);
  ::unlink((out / "m.bin").c_str());
  ToolResult http = RunTool({ClientBin(), "get", "http://127.0.0.1:" + server.port_text() + "/m.bin", out.path()});
  EXPECT_EQ(http.exit_code, 0) << http.err;
  EXPECT_EQ(ReadFileOrEmpty(out / "m.bin") == c, true);
  // 4. Rewrites faster than the clock ticks, each read at once: never a mix.
  for (int i = 0; i < 20; ++i) {
    const std::string v = Pattern(size, static_cast<char>('d' + i));
    Rewrite(path, v);
    HttpResponse r = WantChecksum(server.port(), "m.bin");
    EXPECT_EQ(r.Header("X-Fc-Checksum"), HexOf(r.body)) << "rewrite " << i;
  }
}

// Privilege plants. Started as root with --user nobody, fc creates, chowns
// or opens a few paths that nobody can write to: the log files (in a
// LogsDirectory given to the user), and its lock directory under
// <base>/nobody. A plant there may stop fc from starting, with a message that
// names the path, but root never follows it to a file outside.
class PlantTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (the drop to nobody)";
    ASSERT_EQ(::chmod(root_.path().c_str(), 0755), 0);
    ASSERT_EQ(::chmod(scratch_.path().c_str(), 0755), 0);
    logs_ = scratch_ / "logs";
    ASSERT_EQ(::mkdir(logs_.c_str(), 0755), 0);
    ASSERT_EQ(::chown(logs_.c_str(), 65534, 65534), 0);  // as systemd's LogsDirectory for User=nobody
    target_ = scratch_ / "root-only";
    WriteText(target_, "root's own file\n");
    ASSERT_EQ(::chmod(target_.c_str(), 0600), 0);
  }
  // Starts fc expecting it to refuse; returns its stderr.
  std::string StartAndFail(const std::vector<std::string>& extra) {
    std::vector<std::string> args = {MasterBin(), "--root", root_.path(), "--port", "0", "--user", "nobody",
                                     "--workers", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    ToolResult r = RunTool(args, 10'000);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    return r.err;
  }
  void ExpectTargetUntouched() {
    struct stat st;
    ASSERT_EQ(::stat(target_.c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 0u) << "root's file was given away";
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_EQ(ReadFileOrEmpty(target_), "root's own file\n") << "root's file was written to";
  }
  TempDir root_, scratch_;
  std::string logs_, target_;
};

TEST_F(PlantTest, ASymlinkPlantedAsTheErrorLogIsNotFollowed) {
  ASSERT_EQ(::symlink(target_.c_str(), (logs_ + "/error.log").c_str()), 0);
  const std::string err = StartAndFail({"--error-log", logs_ + "/error.log"});
  EXPECT_NE(err.find(logs_ + "/error.log"), std::string::npos) << err;
  EXPECT_NE(err.find("symlink"), std::string::npos) << err;
  ExpectTargetUntouched();
}

TEST_F(PlantTest, ASymlinkPlantedAsTheAccessLogIsNotFollowed) {
  ASSERT_EQ(::symlink(target_.c_str(), (logs_ + "/access.log").c_str()), 0);
  const std::string err = StartAndFail({"--access-log", logs_ + "/access.log"});
  EXPECT_NE(err.find(logs_ + "/access.log"), std::string::npos) << err;
  EXPECT_NE(err.find("symlink"), std::string::npos) << err;
  ExpectTargetUntouched();
}

TEST_F(PlantTest, AHardLinkPlantedAsALogIsRefused) {
  for (const char* option : {"--access-log", "--error-log"}) {
    const std::string log = logs_ + "/" + std::string(option + 2) + ".log";
    ASSERT_EQ(::link(target_.c_str(), log.c_str()), 0);
    const std::string err = StartAndFail({option, log});
    EXPECT_NE(err.find(log), std::string::npos) << err;
    EXPECT_NE(err.find("hard links"), std::string::npos) << err;
    ExpectTargetUntouched();
    ::unlink(log.c_str());
  }
}

TEST_F(PlantTest, LogsInADirectoryOfTheUserAreMadeForTheUser) {
  const std::string access = logs_ + "/access.log", error = logs_ + "/error.log";
  Server server(root_.path(), {"--user", "nobody", "--access-log", access, "--error-log", error});
  ASSERT_TRUE(server.started()) << server.Log();
  struct stat st;
  ASSERT_EQ(::stat(access.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
  ASSERT_EQ(::stat(error.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
}

// The user's own level of the lock base (<base>/nobody) belongs to nobody, who
// may plant anything in it: a symlink at the lock directory's name is refused.
TEST_F(PlantTest, ASymlinkPlantedAtTheLockDirectoryIsRefused) {
  if (std::getenv("RUNTIME_DIRECTORY") != nullptr) GTEST_SKIP() << "fc's default lock base is replaced here";
  const std::string name = "fc-plant-" + std::to_string(::getpid());
  const std::string user_dir = RootLockBase() + "/nobody";
  ::mkdir(RootLockBase().c_str(), 0711);
  ::mkdir(user_dir.c_str(), 0700);
  ASSERT_EQ(::chown(user_dir.c_str(), 65534, 65534), 0);
  const std::string planted = user_dir + "/" + name + ".locks";
  const std::string elsewhere = scratch_ / "elsewhere";
  ASSERT_EQ(::mkdir(elsewhere.c_str(), 0755), 0);
  ASSERT_EQ(::symlink(elsewhere.c_str(), planted.c_str()), 0);
  const std::string err = StartAndFail({"--shm-name", name});
  EXPECT_NE(err.find(planted), std::string::npos) << err;
  struct stat st;
  ASSERT_EQ(::stat(elsewhere.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u) << "the symlink's target was given away";
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  ::unlink(planted.c_str());
  EXPECT_FALSE(FileExists("/dev/shm/" + name));
}

// The metrics port under abuse: idle connections held open past its limit
// (16) do not keep a scrape out; garbage and huge requests are refused; no
// label carries text a client chose.
TEST(MetricsAttackTest, ASlowlorisDoesNotStopAScrapeAndGarbageIsRefused) {
  TempDir root;
  WriteText(root / "a.txt", "a");
  Server server(root.path(), {"--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(server.WaitForLog("metrics at http://127.0.0.1:"));
  const uint16_t port = static_cast<uint16_t>(NumberAfter(server.Log(), "metrics at http://127.0.0.1:"));
  // Client-chosen text in names, methods and headers of served requests.
  SendHttp(server.port(), "GET /evil%22label%7D%0a HTTP/1.1\r\nHost: x\r\nUser-Agent: a\"b}\r\n\r\n");
  SendHttp(server.port(), "BREW /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  std::vector<std::unique_ptr<RawConnection>> idle;
  for (int i = 0; i < 24; ++i) {
    idle.push_back(std::make_unique<RawConnection>(port));
    ASSERT_TRUE(idle.back()->connected());
    idle.back()->Send("GET /metr");  // and never the rest
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  HttpResponse scrape = SendHttp(port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(scrape.status, 200) << "a scrape behind 24 idle connections";
  EXPECT_NE(scrape.body.find("fc_requests_total"), std::string::npos);
  // Labels are fc's own words only.
  for (const char* evil : {"evil", "BREW", "a\"b", "label"}) {
    EXPECT_EQ(scrape.body.find(evil), std::string::npos) << evil;
  }
  for (size_t at = scrape.body.find('{'); at != std::string::npos; at = scrape.body.find('{', at + 1)) {
    const std::string labels = scrape.body.substr(at, scrape.body.find('}', at) - at + 1);
    EXPECT_TRUE(labels.find_first_not_of("{}=\",_.+abcdefghijklmnopqrstuvwxyzIJF0123456789/") == std::string::npos)
        << labels;
  }
  EXPECT_EQ(SendHttp(port, "GARBAGE\r\n\r\n").status, 405);
  EXPECT_EQ(SendHttp(port, "GET /other HTTP/1.1\r\n\r\n").status, 404);
  EXPECT_EQ(SendHttp(port, "GET /metrics HTTP/1.1\r\nX: " + std::string(20000, 'x') + "\r\n\r\n").status, 431);
  // The master is still well and the scrape still works.
  EXPECT_EQ(SendHttp(port, "GET /metrics HTTP/1.1\r\n\r\n").status, 200);
  EXPECT_EQ(::kill(server.pid(), 0), 0);
}

// Access logs against hostile text: targets, User-Agent and Referer holding
// quotes, ESC and percent-encoded line breaks or NULs stay one line each;
// the JSON format parses line by line (Python's json.loads); combined
// escapes as documented (\xHH for '"', '\\' and bytes outside printable ASCII).
TEST(AccessLogAttackTest, HostileTextStaysOneLineAndJsonParses) {
  TempDir root, logs;
  WriteText(root / "a.txt", "a");
  const std::vector<std::string> requests = {
      "GET /a%22b%1bc%0ad%00e HTTP/1.1\r\nHost: x\r\nUser-Agent: q\"u\\o\r\nReferer: r\"ef\r\n\r\n",
      "GET /%0d%0aFAKE%20200 HTTP/1.1\r\nHost: x\r\nUser-Agent: \x7f\xff\xfe\r\n\r\n",
      "GET /a.txt HTTP/1.1\r\nHost: x\r\nUser-Agent: esc\x1b[31mred\r\n\r\n",  // ESC in a field: 400
      "GET /a.txt HTTP/1.1\r\nHost: x\r\nReferer: http://e/%0a%00\"\r\n\r\n",
  };
  for (const char* format : {"json", "combined"}) {
    const std::string log = logs / (std::string(format) + ".log");
    Server server(root.path(), {"--access-log", log, "--log-format", format});
    ASSERT_TRUE(server.started()) << server.Log();
    for (const std::string& r : requests) SendHttp(server.port(), r);
    ASSERT_EQ(server.Stop(), 0);  // writes the log out
    const std::string text = ReadFileOrEmpty(log);
    size_t lines = 0;
    for (char ch : text) lines += ch == '\n';
    EXPECT_EQ(lines, requests.size()) << format << ":\n" << text;
    for (unsigned char ch : text) {
      EXPECT_TRUE(ch == '\n' || (ch >= 0x20 && ch < 0x7f)) << format << ": byte " << int(ch) << " in\n" << text;
    }
    EXPECT_EQ(text.find("\nFAKE"), std::string::npos) << text;
    if (std::string(format) == "json") {
      ToolResult parsed = RunTool({"/usr/bin/python3", "-c",
                                   "import json,sys\nn=0\nfor l in open(sys.argv[1]):\n json.loads(l); n+=1\nprint(n)",
                                   log});
      EXPECT_EQ(parsed.exit_code, 0) << parsed.err << text;
      EXPECT_EQ(parsed.out, std::to_string(requests.size()) + "\n");
    } else {
      EXPECT_NE(text.find("\"q\\x22u\\x5Co\""), std::string::npos) << text;
      EXPECT_NE(text.find("GET /a%22b%1bc%0ad%00e HTTP/1.1"), std::string::npos) << text;
      EXPECT_NE(text.find("\"r\\x22ef\""), std::string::npos) << text;
    }
  }
}

// The combined format's "%r" is the request line as received (nginx's
// $request): the target still percent-encoded and with its query, so a line
// splits on spaces into the same fields whatever the name holds.
TEST(AccessLogAttackTest, CombinedLogsTheTargetAsReceived) {
  TempDir root, logs;
  WriteText(root / "sp ace", "s");
  const std::string log = logs / "access.log";
  Server server(root.path(), {"--access-log", log, "--log-format", "combined"});
  ASSERT_TRUE(server.started()) << server.Log();
  EXPECT_EQ(SendHttp(server.port(), "GET /sp%20ace?q=1%202 HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  ASSERT_EQ(server.Stop(), 0);
  const std::string text = ReadFileOrEmpty(log);
  EXPECT_NE(text.find("\"GET /sp%20ace?q=1%202 HTTP/1.1\" 200 1 "), std::string::npos) << text;
  // host - - [date zone] "GET target proto" status bytes "referer" "agent": 12 words.
  size_t words = 1;
  for (char ch : text.substr(0, text.find('\n'))) words += ch == ' ';
  EXPECT_EQ(words, 12u) << text;
}

// Rotation under load (mv, then SIGUSR1) loses no line: the lines in the old
// and the new file together are the requests the server counted.
TEST(AccessLogAttackTest, RotationUnderLoadLosesNoLine) {
  TempDir root, logs;
  std::vector<ServedFile> files;
  for (int i = 0; i < 5; ++i) {
    files.push_back({"f" + std::to_string(i), std::string(1000 + i * 100, static_cast<char>('a' + i))});
    WriteText(root / files.back().name, files.back().bytes);
  }
  const std::string log = logs / "access.log";
  Server server(root.path(), {"--access-log", log, "--log-format", "combined", "--metrics-listen", "127.0.0.1:0"});
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(server.WaitForLog("metrics at http://127.0.0.1:"));
  const uint16_t metrics = static_cast<uint16_t>(NumberAfter(server.Log(), "metrics at http://127.0.0.1:"));
  HttpLoad load(server.port(), files, 3, 1);
  for (int round = 1; round <= 3; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ASSERT_EQ(::rename(log.c_str(), (log + "." + std::to_string(round)).c_str()), 0);
    ASSERT_EQ(::kill(server.pid(), SIGUSR1), 0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  load.Stop();
  EXPECT_EQ(load.failures(), 0u) << load.first_failure();
  auto requests_counted = [metrics] {
    const std::string m = "\n" + SendHttp(metrics, "GET /metrics HTTP/1.1\r\n\r\n").body;
    uint64_t total = 0;
    for (size_t at = m.find("\nfc_requests_total{"); at != std::string::npos;
         at = m.find("\nfc_requests_total{", at + 1)) {
      total += std::strtoull(m.c_str() + m.find("} ", at) + 2, nullptr, 10);
    }
    return total;
  };
  // A worker counts a request just after its last byte leaves, which can be a
  // moment after the client has it: wait until the count holds still.
  uint64_t counted = requests_counted();
  WaitUntil([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const uint64_t now = requests_counted();
    const bool still = now == counted;
    counted = now;
    return still;
  }, 3000);
  ASSERT_EQ(server.Stop(), 0);
  size_t lines = 0;
  for (const std::string& path : {log, log + ".1", log + ".2", log + ".3"}) {
    for (char ch : ReadFileOrEmpty(path)) lines += ch == '\n';
  }
  EXPECT_GT(counted, 100u);
  EXPECT_EQ(lines, counted) << "log lines across the rotations against the requests counted";
}

// A full disk under the access log: requests are served, and the error log
// says so once (not once per second), then again when writing works.
TEST(AccessLogAttackTest, AFullDiskUnderTheLogKeepsServingAndSaysSoOnce) {
  TempDir root;
  WriteText(root / "a.txt", "a");
  Server server(root.path(), {"--access-log", "/dev/full", "--workers", "1"});
  ASSERT_TRUE(server.started()) << server.Log();
  for (int second = 0; second < 3; ++second) {
    for (int i = 0; i < 5; ++i) EXPECT_EQ(SendHttp(server.port(), "GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // a flush each second
  }
  size_t said = 0;
  const std::string text = server.Log();
  for (size_t at = text.find("dropping log lines"); at != std::string::npos; at = text.find("dropping log lines", at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, 1u) << text;
  EXPECT_NE(text.find("No space left on device"), std::string::npos) << text;
}

// A disk that fills in the middle of a flush: what reached the file is cut
// back to whole lines, so when space comes back the next line does not run
// into a torn one (review item 10: `{"time":…,"remo{"time":…`).
TEST(AccessLogAttackTest, AFullDiskLeavesOnlyWholeLines) {
  TempDir root, logs;
  WriteText(root / "a.txt", "a");
  const std::string disk = logs / "disk";
  SmallTmpfs tmpfs(disk, "16k");
  if (!tmpfs.mounted()) GTEST_SKIP() << tmpfs.error();
  const std::string log = disk + "/access.log", filler = disk + "/filler";
  Server server(root.path(), {"--access-log", log, "--log-format", "json", "--workers", "1"});
  ASSERT_TRUE(server.started()) << server.Log();
  // Leave one page free: the next flush (about 14 KB) stops part-way through a line.
  WriteFile(filler, 12 * 1024, 1);
  RawConnection conn(server.port());
  const auto burst = [&](int count) {
    for (int i = 0; i < count; ++i) {
      HttpResponse r;
      ASSERT_TRUE(conn.Send("GET /a.txt?" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\nUser-Agent: a-long-agent-"
                            "string-to-make-each-line-longer/1.0\r\n\r\n"));
      ASSERT_TRUE(ReadHttpResponse(conn, &r));
    }
  };
  burst(60);
  ASSERT_TRUE(server.WaitForLog("dropping log lines", 5000)) << server.Log();
  std::remove(filler.c_str());
  burst(20);
  ASSERT_TRUE(server.WaitForLog("is writable again", 5000)) << server.Log();
  ASSERT_EQ(server.Stop(), 0);
  const std::string text = ReadFileOrEmpty(log);
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  ToolResult parsed = RunTool({"/usr/bin/python3", "-c",
                               "import json,sys\nn=0\nfor l in open(sys.argv[1]):\n json.loads(l); n+=1\nprint(n)", log});
  EXPECT_EQ(parsed.exit_code, 0) << parsed.err << text;
  EXPECT_GE(std::atoi(parsed.out.c_str()), 20) << "the lines after the disk had room again";
}

}  // namespace
}  // namespace fc::testing
