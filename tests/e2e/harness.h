// Test harness for end-to-end tests: runs the real fc-master on port 0, the
// real fc-client and fc-shmdump, each under a hard timeout, and speaks the raw
// protocol for malformed-input tests.
#pragma once

#include <sys/types.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fc/base/unique_fd.h"
#include "fc/protocol/wire.h"

namespace fc::testing {

// Bounds on durations are multiplied by this: sanitizer builds run several
// times slower, on the same 2 cores.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr int kTimeFactor = 4;
// The sanitizers' allocators keep freed memory (ASan's quarantine holds up
// to 256 MB): a process's RSS says nothing about what fc gives back.
constexpr bool kSanitizedAllocator = true;
#else
constexpr int kTimeFactor = 1;
constexpr bool kSanitizedAllocator = false;
#endif

// Polls `condition` every 20 ms for at most timeout_ms (scaled by
// kTimeFactor); returns its last value.
template <typename Condition>
bool WaitUntil(Condition condition, int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms * kTimeFactor);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A small tmpfs mounted on `path` (made if missing) for full-disk tests,
// unmounted on destruction. error() is why it could not be mounted (not
// root, say): the caller skips.
class SmallTmpfs {
 public:
  SmallTmpfs(const std::string& path, const std::string& size);  // size: "16k", "1m"
  ~SmallTmpfs();
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  bool mounted() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  std::string path_, error_;
};

// Writes `size` deterministic pseudo-random bytes (from `seed`) to `path`.
void WriteFile(const std::string& path, uint64_t size, uint32_t seed);
void WriteText(const std::string& path, const std::string& text);
std::string ReadFileOrEmpty(const std::string& path);
// xxHash64 of a file's contents; 0 and an ADD_FAILURE if unreadable.
uint64_t FileChecksum(const std::string& path);
bool FileExists(const std::string& path);

struct ToolResult {
  int exit_code = -1;  // -1: killed by the timeout or a signal
  std::string out;
  std::string err;
};
// Runs `argv` (argv[0] is a path), killing it after `timeout_ms`.
ToolResult RunTool(const std::vector<std::string>& argv, int timeout_ms = 60'000);

std::string MasterBin();
std::string ClientBin();
std::string ShmdumpBin();

// A running fc-master on 127.0.0.1, port 0, with --workers 2 and --policy lru
// unless `extra_args` say otherwise. Stopped with SIGTERM (then SIGKILL) on
// destruction. Its stderr goes to log_path().
class Server {
 public:
  // `env` adds NAME=VALUE entries to the master's environment.
  // `positional`: start it as `fc-master 127.0.0.1 0 ROOT` (the short form).
  Server(const std::string& root, std::vector<std::string> extra_args = {},
         std::vector<std::string> env = {}, bool positional = false);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  bool started() const { return port_ != 0; }
  uint16_t port() const { return port_; }
  uint16_t tls_port() const { return tls_port_; }  // --tls-listen's, 0 without
  std::string port_text() const { return std::to_string(port_); }
  pid_t pid() const { return pid_; }
  std::string shm_name() const { return "fc-" + port_text(); }
  const std::string& log_path() const { return log_path_; }
  std::string Log() const { return ReadFileOrEmpty(log_path_); }
  // Waits until the log contains `text` (access lines are written out once a
  // second); false after timeout_ms.
  bool WaitForLog(const std::string& text, int timeout_ms = 5000) const;
  // The load lock directory, as the master's log names it ("" if not yet).
  std::string LockDir() const;

  // The master's live worker processes, from /proc (not its standby, nor fc-populate).
  std::vector<pid_t> WorkerPids() const;
  // Its standby worker (prepared, no slot yet), or 0.
  pid_t StandbyPid() const;
  // Waits until there are `count` workers, none of them in `excluded`; returns
  // the milliseconds it took, or -1 on timeout.
  int WaitForWorkers(size_t count, const std::vector<pid_t>& excluded, int timeout_ms) const;
  // Sends SIGTERM and waits; returns the exit status (or -1 if it had to be killed).
  int Stop(int timeout_ms = 20'000);
  // SIGKILLs the master alone (its workers follow through PR_SET_PDEATHSIG).
  void Kill();

  ToolResult Client(std::vector<std::string> args, int timeout_ms = 60'000) const;
  ToolResult Shmdump(std::vector<std::string> args, int timeout_ms = 10'000) const;

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  uint16_t tls_port_ = 0;
  std::string log_path_;
};

// A raw fc protocol connection for tests that send what fc-client never would.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port);
  bool connected() const { return fd_.valid(); }
  bool Send(const std::string& bytes);
  // A GET request's bytes.
  static std::string GetRequest(const std::string& name, uint64_t offset = 0, uint64_t length = 0);
  static std::string ListRequest();
  // Reads one reply: header and body. False on EOF/timeout before a full reply.
  bool ReadReply(protocol::ReplyHeader* header, std::string* body);
  // Reads exactly n bytes; false on EOF/timeout.
  bool ReadExactly(size_t n, std::string* out);
  // True if the server closed the connection (EOF) within the timeout.
  bool ClosedByPeer();
  // Sets the receive timeout (10 s by default).
  void SetReceiveTimeout(int ms);
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
};

// One HTTP response as read off a connection.
struct HttpResponse {
  int status = 0;
  std::string head;  // status line and fields, up to the empty line
  std::string body;
  // The value of a field (case-insensitive name), "" when absent.
  std::string Header(const std::string& name) const;
};
// Reads one response: the head, then Content-Length bytes unless `head_only`
// (a HEAD request) or the status has no body (1xx, 204, 304). False on EOF or
// timeout before it is whole.
bool ReadHttpResponse(RawConnection& conn, HttpResponse* response, bool head_only = false);
// Reads responses until `max_count` are whole, the peer closes, or nothing
// arrives for `idle_ms`. *closed says whether the peer closed.
std::vector<HttpResponse> ReadHttpResponses(RawConnection& conn, size_t max_count, int idle_ms,
                                            bool* closed);

// Sends `raw` on a new connection and reads one HTTP response (status 0 if
// the connection or the response failed).
HttpResponse SendHttp(uint16_t port, const std::string& raw);
// The first number after `prefix` in `text` at or after `from`, or 0.
long NumberAfter(const std::string& text, const std::string& prefix, size_t from = 0);

// Extracts every value of `"key": <number>` / `"key": "<string>"` in a JSON text.
std::vector<std::string> JsonValues(const std::string& json, const std::string& key);
uint64_t JsonNumber(const std::string& json, const std::string& key);

// A fixture for HTTP tests of one server over a scratch root: Start() it,
// then Send() raw requests or Get() a target with extra header lines.
class HttpServerTest : public ::testing::Test {
 protected:
  void Start(std::vector<std::string> args = {}) {
    server_ = std::make_unique<Server>(root_.path(), std::move(args));
    ASSERT_TRUE(server_->started()) << server_->Log();
  }
  HttpResponse Send(const std::string& request, bool head_only = false) {
    RawConnection conn(server_->port());
    HttpResponse r;
    EXPECT_TRUE(conn.Send(request));
    EXPECT_TRUE(ReadHttpResponse(conn, &r, head_only)) << request;
    return r;
  }
  // `fields`: whole header lines, each ending in CRLF.
  HttpResponse Get(const std::string& target, const std::string& fields = "") {
    return Send("GET " + target + " HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n");
  }
  std::string Url(const std::string& path) const { return "http://127.0.0.1:" + server_->port_text() + path; }
  TempDir root_;
  std::unique_ptr<Server> server_;
};

}  // namespace fc::testing
