// The fc client library behind fc-client: fetch a file into a directory
// (atomically, verified, resuming after a cut connection) and list the cache.
// Blocking; one call at a time per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "fc/base/status.h"
#include "fc/base/unique_fd.h"
#include "fc/protocol/wire.h"

namespace fc::client {

struct Endpoint {
  std::string host;
  uint16_t port = 0;
  int timeout_ms = 30'000;
  // HTTP only: speak TLS (an https:// URL), verifying the server's
  // certificate against `cacert` (empty: the system's CA store) and its name
  // against `host`.
  bool tls = false;
  std::string cacert;
  std::string Describe() const { return host + ":" + std::to_string(port); }
};

struct GetOptions {
  std::string name;       // as the server knows it, e.g. "docs/a b.txt"
  std::string directory;  // where to save; the file keeps the name's last component
  int retries = 5;        // extra attempts after a cut connection or a busy server
  bool http = false;      // fetch over HTTP (FetchHttp) instead of the fc protocol
  // Called as bytes arrive (received, total).
  std::function<void(uint64_t, uint64_t)> progress;
};

struct GetSummary {
  std::string path;  // where the file now is
  uint64_t size = 0;
  uint64_t checksum = 0;
  bool from_cache = false;
  int attempts = 0;
};

// Where Fetch puts the bytes it receives.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual Status Write(uint64_t offset, const char* data, size_t length) = 0;
  // The file changed on the server between attempts: drop what was written.
  virtual Status Restart() = 0;
};

struct FetchSummary {
  uint64_t size = 0;
  uint64_t checksum = 0;  // verified: the bytes given to the sink hash to it
  bool from_cache = false;
  int attempts = 0;
};

// The transfer core of Get: fetches `name` into `sink`, resuming a cut
// connection with a ranged GET (at most `retries` times) and verifying the
// whole-file xxHash64 at the end. Thread-safe (no shared state).
Result<FetchSummary> Fetch(const Endpoint& server, const std::string& name, Sink& sink,
                           int retries, const std::function<void(uint64_t, uint64_t)>& progress);

// Downloads into a temporary file in the directory and renames it into place
// only once the size and the xxHash64 checksum match; on any failure nothing is
// left behind. A cut connection is resumed with a ranged GET at the byte offset
// already received, at most `retries` times.
Result<GetSummary> Get(const Endpoint& server, const GetOptions& options);

struct PutSummary {
  uint64_t size = 0;
  uint64_t checksum = 0;
};

// Uploads `local_path` as `name` (PUT). The server stores it atomically only if
// the xxHash64 sent ahead matches what arrives. `token`: the server's
// --upload-token, if it has one.
Result<PutSummary> Put(const Endpoint& server, const std::string& local_path,
                       const std::string& name, const std::string& token);

// A local file opened for upload, with its size and xxHash64 (read once).
struct UploadFile {
  UniqueFd fd;
  PutSummary summary;
};
Result<UploadFile> OpenForUpload(const std::string& local_path);

// fc over HTTP: an http://HOST[:PORT]/NAME or https://HOST[:PORT]/NAME
// address (NAME percent-decoded; the port defaults to 80 or 443).
struct HttpTarget {
  Endpoint server;
  std::string name;
};
Result<HttpTarget> ParseHttpUrl(const std::string& url);

// Fetch over HTTP/1.1, through anything that speaks it (a load balancer): a
// cut transfer resumes with Range and If-Range (the ETag), a full answer to a
// resume starts over, 502/503/504 are retried, and the whole file must hash to
// the X-Fc-Checksum of the 200 (PROTOCOL.md); without it nothing is accepted.
Result<FetchSummary> FetchHttp(const Endpoint& server, const std::string& name, Sink& sink,
                               int retries, const std::function<void(uint64_t, uint64_t)>& progress);
// PUT over HTTP with Content-Length, X-Fc-Checksum, Expect: 100-continue and,
// given a token, Authorization: Bearer.
Result<PutSummary> PutHttp(const Endpoint& server, const std::string& local_path,
                           const std::string& name, const std::string& token);

// The cache's entries as LIST reports them.
Result<std::vector<protocol::ListItem>> List(const Endpoint& server);

// The local file name `name` is saved under: its last path component. Fails for
// names whose last component is empty, "." or "..".
Result<std::string> LocalName(const std::string& name);

}  // namespace fc::client
