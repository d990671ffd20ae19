// HTTPS end to end (docs/tls.md), spoken by tools nobody here wrote: curl,
// wget and openssl s_client, and by fc-client. The tests make their own CA
// and certificates with `openssl req`. What they show: every feature over
// TLS, resumption on every worker, after kill -9 and across an upgrade,
// certificates reloaded by SIGHUP (a bad one keeps the old), the redirect
// and HSTS, and hostile clients (slow handshakes, plain HTTP, garbage).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include "harness.h"

namespace fc::testing {
namespace {

// A CA of the test's own and certificates it signs (ECDSA P-256).
class TestCa {
 public:
  explicit TestCa(const TempDir& dir) : dir_(dir) {
    ok_ = Run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
               "-keyout", dir_ / "ca.key", "-out", dir_ / "ca.pem", "-days", "2", "-subj", "/CN=fc test CA"});
  }
  bool ok() const { return ok_; }
  std::string ca() const { return dir_ / "ca.pem"; }
  // Issues `name`.pem and `name`.key for the subjectAltNames `sans`
  // ("DNS:localhost,IP:127.0.0.1"); the subject's CN is `cn`.
  bool Issue(const std::string& name, const std::string& cn, const std::string& sans) {
    WriteText(dir_ / (name + ".ext"), "subjectAltName=" + sans + "\n");
    return Run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                dir_ / (name + ".key"), "-out", dir_ / (name + ".csr"), "-subj", "/CN=" + cn}) &&
           Run({"openssl", "x509", "-req", "-in", dir_ / (name + ".csr"), "-CA", ca(), "-CAkey", dir_ / "ca.key",
                "-CAcreateserial", "-out", dir_ / (name + ".pem"), "-days", "2", "-extfile", dir_ / (name + ".ext")}) &&
           ::chmod((dir_ / (name + ".key")).c_str(), 0600) == 0;
  }

 private:
  static bool Run(const std::vector<std::string>& argv) {
    std::vector<std::string> full = {"/usr/bin/env"};
    full.insert(full.end(), argv.begin(), argv.end());
    const ToolResult r = RunTool(full, 30'000);
    if (r.exit_code != 0) ADD_FAILURE() << argv[0] << " " << argv[1] << ": " << r.err;
    return r.exit_code == 0;
  }
  const TempDir& dir_;
  bool ok_ = false;
};

ToolResult Shell(const std::string& script, int timeout_ms = 30'000) {
  return RunTool({"/bin/sh", "-c", script}, timeout_ms);
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(ca_.ok());
    ASSERT_TRUE(ca_.Issue("server", "localhost", "DNS:localhost,IP:127.0.0.1,IP:::1"));
    WriteFile(root_ / "a.bin", 100'000, 7);
    WriteFile(root_ / "big.bin", 3'000'000, 8);
    WriteText(root_ / "index.html", "<h1>home</h1>\n");
    ASSERT_EQ(::mkdir((root_ / "docs").c_str(), 0755), 0);
    std::string text;
    for (int i = 0; i < 400; ++i) text += "line " + std::to_string(i) + " of a text that compresses well\n";
    WriteText(root_ / "docs/notes.txt", text);
  }
  std::vector<std::string> TlsArgs(std::vector<std::string> more = {}) const {
    std::vector<std::string> args = {"--tls-listen", "127.0.0.1:0", "--tls-cert", certs_ / "server.pem",
                                     "--tls-key", certs_ / "server.key"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }
  // curl over TLS to `path` on `port`, verifying with the test CA; -w
  // appends the status.
  ToolResult Curl(uint16_t port, const std::string& path, std::vector<std::string> extra = {}) const {
    std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--cacert", ca_.ca(), "-w", "\n%{http_code}"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back("https://localhost:" + std::to_string(port) + path);
    return RunTool(argv, 30'000);
  }
  // The last line curl -w wrote: the status.
  static int StatusOf(const ToolResult& r) {
    return std::atoi(r.out.c_str() + r.out.rfind('\n') + 1);
  }
  static std::string BodyOf(const ToolResult& r) { return r.out.substr(0, r.out.rfind('\n')); }
  // A new pair for CN `cn` put in place of server.pem and server.key, as a
  // certbot renewal leaves them.
  void RenewServerPair(const std::string& name, const std::string& cn) {
    ASSERT_TRUE(ca_.Issue(name, cn, "DNS:localhost,IP:127.0.0.1"));
    ASSERT_EQ(::rename((certs_ / (name + ".pem")).c_str(), (certs_ / "server.pem").c_str()), 0);
    ASSERT_EQ(::rename((certs_ / (name + ".key")).c_str(), (certs_ / "server.key").c_str()), 0);
  }
  // One GET over TLS with openssl s_client, resuming from `session` (written
  // by the first call, when `save`): the tool's whole output.
  std::string SClient(uint16_t port, const std::string& session, bool save, const std::string& path = "/index.html") {
    const std::string request = "GET " + path + " HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n";
    const std::string script = "printf '" + request + "' | openssl s_client -connect 127.0.0.1:" +
                               std::to_string(port) + " -servername localhost -CAfile " + ca_.ca() + " -ign_eof " +
                               (save ? "-sess_out " : "-sess_in ") + session + " 2>&1";
    return Shell(script).out;
  }

  TempDir root_;
  TempDir certs_;
  TestCa ca_{certs_};
};

TEST_F(TlsTest, CurlGetsFilesRangesConditionalsAndListingsOverTls) {
  Server server(root_.path(), TlsArgs({"--autoindex", "json", "--compress", "gzip"}));
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_NE(server.tls_port(), 0);
  const ToolResult whole = Curl(server.tls_port(), "/a.bin", {"-o", root_ / "got.bin"});
  EXPECT_EQ(StatusOf(whole), 200) << whole.err;
  EXPECT_EQ(FileChecksum(root_ / "got.bin"), FileChecksum(root_ / "a.bin"));
  // Again: now from the cache's packets.
  const ToolResult hit = Curl(server.tls_port(), "/a.bin", {"-o", root_ / "hit.bin", "-D", "-"});
  EXPECT_NE(hit.out.find("X-Fc-Served: cache"), std::string::npos) << hit.out;
  EXPECT_EQ(FileChecksum(root_ / "hit.bin"), FileChecksum(root_ / "a.bin"));
  // A file larger than a TLS record, streamed from disk in 16 KiB records.
  const ToolResult big = Curl(server.tls_port(), "/big.bin", {"-o", root_ / "big.got"});
  EXPECT_EQ(StatusOf(big), 200) << big.err;
  EXPECT_EQ(FileChecksum(root_ / "big.got"), FileChecksum(root_ / "big.bin"));
  const ToolResult range = Curl(server.tls_port(), "/a.bin", {"-r", "10-19"});
  EXPECT_EQ(StatusOf(range), 206);
  EXPECT_EQ(BodyOf(range), ReadFileOrEmpty(root_ / "a.bin").substr(10, 10));
  const ToolResult parts = Curl(server.tls_port(), "/a.bin", {"-r", "0-9,50000-50009"});
  EXPECT_EQ(StatusOf(parts), 206);
  EXPECT_NE(parts.out.find("Content-Range: bytes 50000-50009/100000"), std::string::npos) << parts.out;
  const ToolResult head = Curl(server.tls_port(), "/a.bin", {"-I"});
  const size_t etag_at = head.out.find("ETag: ");
  ASSERT_NE(etag_at, std::string::npos) << head.out;
  const std::string etag = head.out.substr(etag_at + 6, head.out.find('\r', etag_at) - etag_at - 6);
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/a.bin", {"-H", "If-None-Match: " + etag})), 304);
  const ToolResult listing = Curl(server.tls_port(), "/docs/");
  EXPECT_EQ(StatusOf(listing), 200);
  EXPECT_NE(listing.out.find("notes.txt"), std::string::npos) << listing.out;
  const ToolResult gz = Curl(server.tls_port(), "/docs/notes.txt", {"--compressed", "-D", "-"});
  EXPECT_NE(gz.out.find("Content-Encoding: gzip"), std::string::npos) << gz.out;
  EXPECT_NE(gz.out.find("line 399 of a text"), std::string::npos);
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/.fc/health")), 200);
  const ToolResult cache = Curl(server.tls_port(), "/.fc/cache", {"-H", "Accept: application/json"});
  EXPECT_EQ(StatusOf(cache), 200);
  EXPECT_NE(cache.out.find("a.bin"), std::string::npos);
  // TLS 1.2 too, and wget as a second client.
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/index.html", {"--tlsv1.2", "--tls-max", "1.2"})), 200);
  const ToolResult wget = RunTool({"/usr/bin/wget", "-q", "--ca-certificate=" + ca_.ca(), "-O", "-",
                                   "https://localhost:" + std::to_string(server.tls_port()) + "/index.html"});
  EXPECT_EQ(wget.exit_code, 0) << wget.err;
  EXPECT_EQ(wget.out, "<h1>home</h1>\n");
  // The plain port still serves; HSTS is off by default.
  EXPECT_EQ(SendHttp(server.port(), "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  EXPECT_EQ(head.out.find("Strict-Transport-Security"), std::string::npos);
  // The access log names the protocol and the cipher.
  EXPECT_TRUE(server.WaitForLog("HTTPS GET \"a.bin\"")) << server.Log();
  EXPECT_NE(server.Log().find(" TLSv1.3 TLS_AES_"), std::string::npos);
  EXPECT_NE(server.Log().find(" TLSv1.2 ECDHE-ECDSA-"), std::string::npos);
}

TEST_F(TlsTest, FcClientGetsAndPutsOverHttpsAndRefusesAnUnknownCa) {
  ASSERT_EQ(::mkdir((root_ / "up").c_str(), 0755), 0);
  Server server(root_.path(), TlsArgs({"--allow-upload"}));
  ASSERT_TRUE(server.started()) << server.Log();
  TempDir out;
  const std::string url = "https://localhost:" + std::to_string(server.tls_port());
  ToolResult got = RunTool({ClientBin(), "get", url + "/big.bin", out.path(), "--cacert", ca_.ca(), "-q"});
  EXPECT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(FileChecksum(out / "big.bin"), FileChecksum(root_ / "big.bin"));
  ToolResult by_ip = RunTool({ClientBin(), "get", "https://127.0.0.1:" + std::to_string(server.tls_port()) + "/a.bin",
                              out.path(), "--cacert", ca_.ca(), "-q"});
  EXPECT_EQ(by_ip.exit_code, 0) << by_ip.err;
  ToolResult put = RunTool({ClientBin(), "put", root_ / "big.bin", url + "/up/copy.bin", "--cacert", ca_.ca()});
  EXPECT_EQ(put.exit_code, 0) << put.err;
  EXPECT_EQ(FileChecksum(root_ / "up/copy.bin"), FileChecksum(root_ / "big.bin"));
  // Another CA: refused, and nothing saved.
  TempDir other_dir;
  TestCa other(other_dir);
  ASSERT_TRUE(other.ok());
  TempDir empty;
  ToolResult refused = RunTool({ClientBin(), "get", url + "/a.bin", empty.path(), "--cacert", other.ca()});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("certificate does not verify"), std::string::npos) << refused.err;
  EXPECT_FALSE(FileExists(empty / "a.bin"));
  // A name the certificate does not carry: refused too.
  ToolResult wrong_name = RunTool({ClientBin(), "get", "https://127.0.0.2:" + std::to_string(server.tls_port()) + "/a.bin",
                                   empty.path(), "--cacert", ca_.ca(), "--retries", "0"});
  EXPECT_EQ(wrong_name.exit_code, 1) << wrong_name.out;
}

TEST_F(TlsTest, ATicketFromOneWorkerResumesOnEveryWorkerAndAfterKill9) {
  Server server(root_.path(), TlsArgs({"--workers", "4"}));
  ASSERT_TRUE(server.started()) << server.Log();
  // TLS 1.2 tickets: s_client -reconnect resumes five times.
  const ToolResult reconnect = Shell("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(server.tls_port()) +
                                     " -CAfile " + ca_.ca() + " -tls1_2 -reconnect 2>/dev/null");
  size_t reused = 0;
  for (size_t at = 0; (at = reconnect.out.find("\nReused, TLSv1.2", at)) != std::string::npos; ++at) ++reused;
  EXPECT_EQ(reused, 5u) << reconnect.out;
  // TLS 1.3 PSKs: one session, then connections until every worker has
  // served one that resumed it (the kernel spreads them over the sockets).
  const std::string session = certs_ / "session.pem";
  ASSERT_NE(SClient(server.tls_port(), session, true).find("<h1>home</h1>"), std::string::npos);
  size_t resumed = 0, tried = 0;
  std::set<std::string> workers;
  while (tried < 120 && (workers.size() < 4 || tried < 8)) {
    ++tried;
    const std::string out = SClient(server.tls_port(), session, false);
    EXPECT_NE(out.find("<h1>home</h1>"), std::string::npos) << out;
    if (out.find("\nReused, TLSv1.3") != std::string::npos) ++resumed;
    if (tried % 8 == 0) {  // the access log is written out once a second
      std::this_thread::sleep_for(std::chrono::milliseconds(1100));
      const std::string log = server.Log();
      for (size_t at = 0; (at = log.find("HTTPS GET \"index.html\"", at)) != std::string::npos; ++at) {
        const size_t line = log.rfind('\n', at) + 1;
        workers.insert(log.substr(line, log.find(' ', line) - line));
      }
    }
  }
  EXPECT_EQ(resumed, tried) << "every connection resumed the first session";
  EXPECT_EQ(workers.size(), 4u) << "workers that served a resumed connection";
  // kill -9 every worker: their replacements open the same ticket.
  const std::vector<pid_t> before = server.WorkerPids();
  for (pid_t pid : before) ::kill(pid, SIGKILL);
  ASSERT_GE(server.WaitForWorkers(4, before, 10'000), 0) << server.Log();
  const std::string after = SClient(server.tls_port(), session, false);
  EXPECT_NE(after.find("\nReused, TLSv1.3"), std::string::npos) << after;
  EXPECT_NE(after.find("<h1>home</h1>"), std::string::npos);
}

TEST_F(TlsTest, Kill9MidTransferOverTlsSendsNoWrongBytesAndLeaksNoPin) {
  WriteFile(root_ / "large.bin", 20'000'000, 9);
  Server server(root_.path(), TlsArgs({"--workers", "1"}));
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_EQ(StatusOf(Curl(server.tls_port(), "/large.bin", {"-o", "/dev/null"})), 200);  // cached now
  // Handshakes in progress when the worker dies, too.
  std::vector<std::unique_ptr<RawConnection>> half;
  for (int i = 0; i < 4; ++i) {
    half.push_back(std::make_unique<RawConnection>(server.tls_port()));
    ASSERT_TRUE(half.back()->Send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
  }
  // A slow reader mid-body when its worker dies.
  std::thread reader([&] {
    Curl(server.tls_port(), "/large.bin", {"--limit-rate", "2M", "-o", root_ / "cut.bin"});
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  const std::vector<pid_t> before = server.WorkerPids();
  ASSERT_EQ(before.size(), 1u);
  ::kill(before[0], SIGKILL);
  reader.join();
  // What arrived is a prefix of the file: never a wrong byte.
  const std::string cut = ReadFileOrEmpty(root_ / "cut.bin");
  const std::string real = ReadFileOrEmpty(root_ / "large.bin");
  EXPECT_GT(cut.size(), 0u);
  EXPECT_LT(cut.size(), real.size());
  EXPECT_TRUE(real.compare(0, cut.size(), cut) == 0) << "the cut body is a prefix of the file";
  ASSERT_GE(server.WaitForWorkers(1, before, 10'000), 0) << server.Log();
  const ToolResult again = Curl(server.tls_port(), "/large.bin", {"-o", root_ / "again.bin"});
  EXPECT_EQ(StatusOf(again), 200);
  EXPECT_EQ(FileChecksum(root_ / "again.bin"), FileChecksum(root_ / "large.bin"));
  ToolResult check = server.Shmdump({"--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  ToolResult dump = server.Shmdump({"--json"});
  EXPECT_NE(dump.out.find("\"readers\": 0"), std::string::npos) << dump.out;
  EXPECT_EQ(dump.out.find("\"readers\": 1"), std::string::npos) << "no pin left by the dead worker";
}

TEST_F(TlsTest, SighupLoadsNewCertificatesAndABadOneKeepsTheOld) {
  Server server(root_.path(), TlsArgs({"--workers", "2"}));
  ASSERT_TRUE(server.started()) << server.Log();
  auto subject = [&] {
    return Shell("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(server.tls_port()) +
                 " -servername localhost 2>/dev/null | openssl x509 -noout -subject")
        .out;
  };
  EXPECT_NE(subject().find("CN = localhost"), std::string::npos);
  // An established keep-alive connection, from before the reload (curl
  // reuses it for the second URL of one run).
  // A new pair in place, as certbot's renewal leaves it: new handshakes get it.
  RenewServerPair("renewed", "renewed.localhost");
  ::kill(server.pid(), SIGHUP);
  ASSERT_TRUE(server.WaitForLog("reload: done", 20'000)) << server.Log();
  EXPECT_NE(subject().find("CN = renewed.localhost"), std::string::npos) << server.Log();
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/a.bin", {"-o", "/dev/null"})), 200);
  // A key that does not match its certificate: the running pair stays.
  ASSERT_TRUE(ca_.Issue("stray", "stray", "DNS:localhost"));
  ASSERT_EQ(::rename((certs_ / "stray.key").c_str(), (certs_ / "server.key").c_str()), 0);
  const size_t mark = server.Log().size();
  ::kill(server.pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("keeping the running certificates", mark) != std::string::npos; },
                        10'000))
      << server.Log();
  EXPECT_NE(server.Log().find("--tls-key " + certs_ / "server.key" + " does not match", mark), std::string::npos)
      << server.Log().substr(mark);
  // This reload's own "done" (the first one's is in the log already): no
  // worker is draining while the checks below connect.
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("reload: done", mark) != std::string::npos; }, 20'000));
  EXPECT_NE(subject().find("CN = renewed.localhost"), std::string::npos);
  // Garbage in the certificate file: the same.
  WriteText(certs_ / "server.pem", "not a certificate\n");
  const size_t mark2 = server.Log().size();
  ::kill(server.pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("keeping the running certificates", mark2) != std::string::npos; },
                        10'000));
  EXPECT_NE(server.Log().find("--tls-cert " + certs_ / "server.pem" + ": no PEM certificate", mark2), std::string::npos)
      << server.Log().substr(mark2);
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("reload: done", mark2) != std::string::npos; }, 20'000));
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/index.html")), 200);
}

// Started as root with the default user: the master and the workers run as
// nobody, the key stays 0600 root's, and a SIGHUP still reads the renewed
// pair, through fc-keys (the one process that stays root, and reads only
// the configured files).
TEST_F(TlsTest, AsNobodyTheKeyStaysRootsAndSighupReadsTheRenewedPairThroughFcKeys) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  ASSERT_EQ(::chmod(root_.path().c_str(), 0755), 0);
  for (const char* f : {"index.html", "a.bin"}) ASSERT_EQ(::chmod((root_ / f).c_str(), 0644), 0);
  Server server(root_.path(), TlsArgs({"--user", "nobody"}));
  ASSERT_TRUE(server.started()) << server.Log();
  for (pid_t w : server.WorkerPids()) {
    struct stat st;
    ASSERT_EQ(::stat(("/proc/" + std::to_string(w)).c_str(), &st), 0);
    EXPECT_EQ(st.st_uid, 65534u) << "worker " << w << " runs as nobody";
  }
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/index.html")), 200);
  const ToolResult readers = Shell("pgrep -x fc-keys -P " + std::to_string(server.pid()));
  ASSERT_EQ(readers.exit_code, 0) << "fc-keys runs beside the master";
  struct stat key_st;
  ASSERT_EQ(::stat((certs_ / "server.key").c_str(), &key_st), 0);
  EXPECT_EQ(key_st.st_mode & 0777, 0600u);
  RenewServerPair("renewed", "renewed.localhost");
  ::kill(server.pid(), SIGHUP);
  ASSERT_TRUE(server.WaitForLog("reload: done", 20'000)) << server.Log();
  EXPECT_EQ(server.Log().find("keeping the running certificates"), std::string::npos) << server.Log();
  const ToolResult subject = Shell("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(server.tls_port()) +
                                   " -servername localhost 2>/dev/null | openssl x509 -noout -subject");
  EXPECT_NE(subject.out.find("CN = renewed.localhost"), std::string::npos) << subject.out << server.Log();
}

// Clients keep fetching, over new and kept-alive connections, while the
// certificate is replaced and reloaded twice: not one request fails.
TEST_F(TlsTest, ACertificateSwappedUnderLoadFailsNoRequest) {
  Server server(root_.path(), TlsArgs({"--workers", "2"}));
  ASSERT_TRUE(server.started()) << server.Log();
  std::atomic<bool> stop{false};
  std::atomic<int> requests{0}, failures{0}, retries{0};
  std::string first_failure;
  std::mutex mu;
  auto client = [&] {
    while (!stop.load()) {
      // One curl run: 20 requests on one kept-alive connection.
      // A kept-alive connection a draining worker closes between requests
      // may cross the client's next request (HTTP/1.1's idle-close race):
      // one retry, as HttpLoad does on the plain port, counted apart.
      std::vector<std::string> argv = {"/usr/bin/curl", "-sS", "--cacert", ca_.ca(), "-w", "%{http_code}\n",
                                       "--retry", "1", "--retry-all-errors", "--retry-delay", "0"};
      for (int i = 0; i < 20; ++i) {
        argv.push_back("-o");
        argv.push_back("/dev/null");
      }
      for (int i = 0; i < 20; ++i) argv.push_back("https://localhost:" + std::to_string(server.tls_port()) + "/a.bin");
      const ToolResult r = RunTool(argv, 30'000);
      for (size_t at = 0; (at = r.err.find("Will retry", at)) != std::string::npos; ++at) ++retries;
      int ok = 0;
      for (size_t at = 0; (at = r.out.find("200\n", at)) != std::string::npos; at += 4) ++ok;
      requests += 20;
      if (r.exit_code != 0 || ok != 20) {
        ++failures;
        std::lock_guard<std::mutex> lock(mu);
        if (first_failure.empty()) first_failure = r.out + r.err;
      }
    }
  };
  std::thread a(client), b(client);
  for (int round = 0; round < 2; ++round) {
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const std::string name = "swap" + std::to_string(round);
    RenewServerPair(name, name + ".localhost");
    const size_t mark = server.Log().size();
    ::kill(server.pid(), SIGHUP);
    EXPECT_TRUE(WaitUntil([&] { return server.Log().find("reload: done", mark) != std::string::npos; }, 20'000))
        << server.Log();
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  a.join();
  b.join();
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(requests.load(), 100);
  std::printf("certificate swapped twice under load: %d requests, %d failed, %d retried after an idle close\n",
              requests.load(), failures.load(), retries.load());
}

// As nobody, across SIGUSR2: the old master exits (it does not wait for
// fc-keys, which the new master inherits), and the new master's SIGHUP still
// reads a renewed root-only pair through it.
TEST_F(TlsTest, AsNobodyAnUpgradeHandsFcKeysToTheNewMaster) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root";
  ASSERT_EQ(::chmod(root_.path().c_str(), 0755), 0);
  for (const char* f : {"index.html", "a.bin"}) ASSERT_EQ(::chmod((root_ / f).c_str(), 0644), 0);
  Server server(root_.path(), TlsArgs({"--user", "nobody"}));
  ASSERT_TRUE(server.started()) << server.Log();
  const pid_t old_master = server.pid();
  ::kill(old_master, SIGUSR2);
  ASSERT_TRUE(server.WaitForLog("stays with the new master", 30'000)) << server.Log();
  const pid_t new_master = static_cast<pid_t>(NumberAfter(server.Log(), " as pid "));
  ASSERT_GT(new_master, 0);
  auto exited = [](pid_t pid) {  // gone, or a zombie the harness reaps
    const std::string stat = ReadFileOrEmpty("/proc/" + std::to_string(pid) + "/stat");
    const size_t paren = stat.rfind(')');
    return stat.empty() || (paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z');
  };
  EXPECT_TRUE(WaitUntil([&] { return exited(old_master); }, 20'000))
      << "the old master exits after the hand-over\n" << server.Log();
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/index.html")), 200);
  RenewServerPair("renewed", "renewed.localhost");
  const size_t mark = server.Log().size();
  ::kill(new_master, SIGHUP);
  EXPECT_TRUE(WaitUntil([&] { return server.Log().find("reload: done", mark) != std::string::npos; }, 20'000))
      << server.Log().substr(mark);
  EXPECT_EQ(server.Log().find("keeping the running certificates", mark), std::string::npos) << server.Log().substr(mark);
  const ToolResult subject = Shell("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(server.tls_port()) +
                                   " -servername localhost 2>/dev/null | openssl x509 -noout -subject");
  EXPECT_NE(subject.out.find("CN = renewed.localhost"), std::string::npos) << subject.out;
  ::kill(new_master, SIGTERM);
  WaitUntil([new_master] { return ::kill(new_master, 0) != 0; }, 20'000);
}

TEST_F(TlsTest, RedirectHttpsAndHsts) {
  Server server(root_.path(), TlsArgs({"--redirect-https", "--hsts", "600"}));
  ASSERT_TRUE(server.started()) << server.Log();
  const std::string tls_port = std::to_string(server.tls_port());
  HttpResponse moved =
      SendHttp(server.port(), "GET /a.bin?x=1&y=%20 HTTP/1.1\r\nHost: localhost:" + server.port_text() + "\r\n\r\n");
  EXPECT_EQ(moved.status, 308) << moved.head;
  EXPECT_EQ(moved.Header("Location"), "https://localhost:" + tls_port + "/a.bin?x=1&y=%20");
  EXPECT_EQ(moved.Header("Strict-Transport-Security"), "") << "never over plain HTTP";
  // Never the health path; never an IP literal (no certificate names it).
  EXPECT_EQ(SendHttp(server.port(), "GET /.fc/health HTTP/1.1\r\nHost: localhost\r\n\r\n").status, 200);
  EXPECT_EQ(SendHttp(server.port(), "GET /a.bin HTTP/1.1\r\nHost: 127.0.0.1:" + server.port_text() + "\r\n\r\n").status,
            200);
  EXPECT_EQ(SendHttp(server.port(), "GET /a.bin HTTP/1.1\r\nHost: [::1]:80\r\n\r\n").status, 200);
  // Follow it: HSTS on the HTTPS reply.
  const ToolResult followed = RunTool({"/usr/bin/curl", "-sS", "-L", "--cacert", ca_.ca(), "-D", "-", "-o", "/dev/null",
                                       "http://localhost:" + server.port_text() + "/index.html"});
  EXPECT_NE(followed.out.find("308"), std::string::npos) << followed.out << followed.err;
  EXPECT_NE(followed.out.find("Strict-Transport-Security: max-age=600"), std::string::npos) << followed.out;
}

TEST_F(TlsTest, HostileHandshakesAreBoundedAndCountedAndDoNotStallOthers) {
  Server server(root_.path(), TlsArgs({"--workers", "1", "--tls-handshake-timeout", "1", "--metrics-listen",
                                       "127.0.0.1:0"}));
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(server.WaitForLog("metrics at http://127.0.0.1:"));
  const uint16_t metrics = static_cast<uint16_t>(NumberAfter(server.Log(), "metrics at http://127.0.0.1:"));
  // Slowloris over TLS: the first bytes of a ClientHello, then nothing.
  std::vector<std::unique_ptr<RawConnection>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<RawConnection>(server.tls_port()));
    ASSERT_TRUE(slow.back()->Send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
  }
  // Plain HTTP to the TLS port, and garbage.
  RawConnection plain(server.tls_port());
  ASSERT_TRUE(plain.Send("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  RawConnection garbage(server.tls_port());
  ASSERT_TRUE(garbage.Send(std::string(4096, '\x16')));
  // Meanwhile a real client is served at once.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/index.html")), 200);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2 * kTimeFactor));
  EXPECT_TRUE(plain.ClosedByPeer());
  EXPECT_TRUE(garbage.ClosedByPeer());
  for (auto& c : slow) {
    c->SetReceiveTimeout(4000 * kTimeFactor);
    EXPECT_TRUE(c->ClosedByPeer()) << "a handshake that stalls is closed after --tls-handshake-timeout";
  }
  // A ClientHello that claims 100,000 bytes and keeps coming: cut at 64 KiB.
  RawConnection huge(server.tls_port());
  std::string hello = std::string("\x01\x01\x86\xa0", 4);  // ClientHello, 100,000 bytes
  bool cut = false;
  for (int record = 0; record < 7 && !cut; ++record) {
    std::string payload = record == 0 ? hello + std::string(16000, '\0') : std::string(16000, '\0');
    std::string bytes = std::string("\x16\x03\x01", 3);
    bytes.push_back(static_cast<char>(payload.size() >> 8));
    bytes.push_back(static_cast<char>(payload.size() & 0xff));
    cut = !huge.Send(bytes + payload);
  }
  EXPECT_TRUE(cut || huge.ClosedByPeer()) << "a handshake over 64 KiB is refused";
  const std::string m = "\n" + SendHttp(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").body;
  EXPECT_GE(NumberAfter(m, "\nfc_tls_handshake_failures_total{reason=\"too_large\"} "), 1) << m;
  EXPECT_GE(NumberAfter(m, "\nfc_tls_handshake_failures_total{reason=\"timeout\"} "), 20) << m;
  EXPECT_GE(NumberAfter(m, "\nfc_tls_handshake_failures_total{reason=\"plain_http\"} "), 1) << m;
  EXPECT_GE(NumberAfter(m, "\nfc_tls_handshakes_total{result=\"full\"} "), 1) << m;
}

// --tls-max-handshakes: past it a new TLS connection is closed at once and
// counted; once the stalled ones time out, clients are served again.
TEST_F(TlsTest, HandshakesPastTheLimitAreClosedAtOnceAndCounted) {
  Server server(root_.path(), TlsArgs({"--workers", "1", "--threads", "1", "--tls-max-handshakes", "2",
                                       "--tls-handshake-timeout", "1", "--metrics-listen", "127.0.0.1:0"}));
  ASSERT_TRUE(server.started()) << server.Log();
  ASSERT_TRUE(server.WaitForLog("metrics at http://127.0.0.1:"));
  const uint16_t metrics = static_cast<uint16_t>(NumberAfter(server.Log(), "metrics at http://127.0.0.1:"));
  std::vector<std::unique_ptr<RawConnection>> stalled;
  for (int i = 0; i < 2; ++i) {
    stalled.push_back(std::make_unique<RawConnection>(server.tls_port()));
    ASSERT_TRUE(stalled.back()->Send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  RawConnection third(server.tls_port());
  ASSERT_TRUE(third.Send(std::string("\x16\x03\x01\x02\x00\x01", 6)));
  third.SetReceiveTimeout(500 * kTimeFactor);
  EXPECT_TRUE(third.ClosedByPeer()) << "over the limit: closed at once, not at the timeout";
  EXPECT_TRUE(WaitUntil([&] { return StatusOf(Curl(server.tls_port(), "/index.html")) == 200; }, 5000))
      << "served again once the stalled handshakes timed out";
  const std::string m = "\n" + SendHttp(metrics, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").body;
  EXPECT_GE(NumberAfter(m, "\nfc_tls_handshake_failures_total{reason=\"too_many\"} "), 1) << m;
  EXPECT_GE(NumberAfter(m, "\nfc_tls_handshake_failures_total{reason=\"timeout\"} "), 2) << m;
}

// The JSON access log carries nginx's $ssl_protocol and $ssl_cipher; a
// plain request has neither.
TEST_F(TlsTest, TheJsonAccessLogNamesTheProtocolAndTheCipher) {
  Server server(root_.path(), TlsArgs({"--log-format", "json"}));
  ASSERT_TRUE(server.started()) << server.Log();
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/index.html", {"--tlsv1.2", "--tls-max", "1.2"})), 200);
  EXPECT_EQ(StatusOf(Curl(server.tls_port(), "/a.bin", {"-o", "/dev/null"})), 200);
  EXPECT_EQ(SendHttp(server.port(), "GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
  ASSERT_TRUE(server.WaitForLog("\"name\":\"a.bin\"")) << server.Log();
  ASSERT_TRUE(WaitUntil([&] { return server.Log().find("\"name\":\"index.html\"") != server.Log().rfind("\"name\":\"index.html\""); }, 5000));
  const std::string log = server.Log();
  EXPECT_NE(log.find("\"ssl_protocol\":\"TLSv1.2\",\"ssl_cipher\":\"ECDHE-ECDSA-"), std::string::npos) << log;
  EXPECT_NE(log.find("\"ssl_protocol\":\"TLSv1.3\",\"ssl_cipher\":\"TLS_AES_"), std::string::npos) << log;
  size_t lines = 0, with_tls = 0;
  for (size_t at = 0; (at = log.find("{\"time\":", at)) != std::string::npos; ++at) {
    ++lines;
    const std::string line = log.substr(at, log.find('\n', at) - at);
    with_tls += line.find("ssl_protocol") != std::string::npos;
  }
  EXPECT_EQ(lines, 3u) << log;
  EXPECT_EQ(with_tls, 2u) << "the plain request's line has no TLS fields";
}

// --tls-listen takes an IPv6 address too.
TEST_F(TlsTest, TheTlsListenerServesIpv6) {
  {
    UniqueFd probe(::socket(AF_INET6, SOCK_STREAM, 0));
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    if (!probe.valid() || ::bind(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      GTEST_SKIP() << "no IPv6 loopback here";
    }
  }
  Server server(root_.path(), {"--tls-listen", "[::1]:0", "--tls-cert", certs_ / "server.pem", "--tls-key",
                               certs_ / "server.key"});
  ASSERT_TRUE(server.started()) << server.Log();
  const ToolResult r = RunTool({"/usr/bin/curl", "-sS", "--cacert", ca_.ca(),
                                "https://[::1]:" + std::to_string(server.tls_port()) + "/index.html"});
  EXPECT_EQ(r.out, "<h1>home</h1>\n") << r.err;
  EXPECT_NE(server.Log().find("HTTPS on [::1]:"), std::string::npos) << server.Log();
}

TEST_F(TlsTest, SniChoosesTheCertificateByNameAndTheFirstIsTheDefault) {
  ASSERT_TRUE(ca_.Issue("other", "other.test", "DNS:other.test,DNS:*.other.test"));
  Server server(root_.path(), TlsArgs({"--tls-cert", certs_ / "other.pem", "--tls-key", certs_ / "other.key"}));
  ASSERT_TRUE(server.started()) << server.Log();
  auto subject = [&](const std::string& name) {
    return Shell("echo | openssl s_client -connect 127.0.0.1:" + std::to_string(server.tls_port()) +
                 (name.empty() ? std::string(" -noservername") : " -servername " + name) +
                 " 2>/dev/null | openssl x509 -noout -subject")
        .out;
  };
  EXPECT_NE(subject("localhost").find("CN = localhost"), std::string::npos);
  EXPECT_NE(subject("other.test").find("CN = other.test"), std::string::npos);
  EXPECT_NE(subject("www.other.test").find("CN = other.test"), std::string::npos);
  EXPECT_NE(subject("unknown.example").find("CN = localhost"), std::string::npos);
  EXPECT_NE(subject("").find("CN = localhost"), std::string::npos);
  const ToolResult r = RunTool({"/usr/bin/curl", "-sS", "--cacert", ca_.ca(), "--resolve",
                                "www.other.test:" + std::to_string(server.tls_port()) + ":127.0.0.1",
                                "https://www.other.test:" + std::to_string(server.tls_port()) + "/index.html"});
  EXPECT_EQ(r.out, "<h1>home</h1>\n") << r.err;
}

TEST_F(TlsTest, BadFilesAtTheStartAreRefusedByName) {
  ToolResult missing = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--tls-listen", "127.0.0.1:0",
                                "--tls-cert", certs_ / "nope.pem", "--tls-key", certs_ / "server.key"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find(certs_ / "nope.pem"), std::string::npos) << missing.err;
  ASSERT_TRUE(ca_.Issue("stray", "stray", "DNS:stray"));
  ToolResult mismatch = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--tls-listen", "127.0.0.1:0",
                                 "--tls-cert", certs_ / "server.pem", "--tls-key", certs_ / "stray.key"});
  EXPECT_EQ(mismatch.exit_code, 1);
  EXPECT_NE(mismatch.err.find("--tls-key " + certs_ / "stray.key" + " does not match --tls-cert " + certs_ / "server.pem"),
            std::string::npos)
      << mismatch.err;
  ToolResult unpaired = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--tls-listen", "127.0.0.1:0",
                                 "--tls-cert", certs_ / "server.pem"});
  EXPECT_EQ(unpaired.exit_code, 2);
  EXPECT_NE(unpaired.err.find("one --tls-key per --tls-cert"), std::string::npos) << unpaired.err;
  // A key others may read: served, with a warning naming it.
  ASSERT_EQ(::chmod((certs_ / "server.key").c_str(), 0644), 0);
  Server server(root_.path(), TlsArgs());
  ASSERT_TRUE(server.started()) << server.Log();
  EXPECT_NE(server.Log().find("warning: --tls-key " + certs_ / "server.key" + " is readable by every user"),
            std::string::npos)
      << server.Log();
}

TEST_F(TlsTest, AnUpgradeKeepsTheTlsPortAndTheTickets) {
  Server server(root_.path(), TlsArgs());
  ASSERT_TRUE(server.started()) << server.Log();
  const std::string session = certs_ / "session.pem";
  ASSERT_NE(SClient(server.tls_port(), session, true).find("<h1>home</h1>"), std::string::npos);
  ::kill(server.pid(), SIGUSR2);
  ASSERT_TRUE(server.WaitForLog("stays with the new master", 30'000)) << server.Log();
  const pid_t new_master = static_cast<pid_t>(NumberAfter(server.Log(), " as pid "));
  const std::string out = SClient(server.tls_port(), session, false);
  EXPECT_NE(out.find("\nReused, TLSv1.3"), std::string::npos) << out << server.Log();
  EXPECT_NE(out.find("<h1>home</h1>"), std::string::npos);
  if (new_master > 0) {
    ::kill(new_master, SIGTERM);
    WaitUntil([new_master] { return ::kill(new_master, 0) != 0; }, 20'000);
  }
}

}  // namespace
}  // namespace fc::testing
