// Internal header: the access log. One line per finished response, in one of
// three formats, appended to a buffer that is written out every second, when
// it reaches 64 KiB, and on close (memcached's and nginx's buffered logging:
// one write(2) per many requests instead of one per request). Thread-safe;
// one per worker process, shared by its event loops.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "fc/base/mutex.h"
#include "fc/base/status.h"
#include "fc/base/unique_fd.h"
#include "fc/worker/worker.h"

namespace fc::worker {

// What one response's log line says.
struct AccessRecord {
  std::string_view peer;        // "ADDR:PORT"
  std::string_view method;      // "GET", "HEAD", "PUT", "LIST", ...
  std::string_view name;        // the file name as requested (raw bytes)
  std::string_view target;      // HTTP: the request target as received (path and query, still
                                // percent-encoded); "" for the fc protocol
  std::string_view protocol;    // "HTTP/1.1", "HTTP/1.0", "FC/1"
  int status = 0;               // HTTP status (an fc reply's code mapped to one)
  std::string_view fc_code;     // fc protocol: the reply code's name ("OK", "NOT_FOUND")
  std::string_view outcome;     // how it was served: "hit", "miss", "stream", "refused", ...
  uint64_t bytes = 0;           // body bytes sent
  double ms = 0;                // from the request's first byte to the last byte sent
  std::string_view referer;     // HTTP fields ("" when absent)
  std::string_view user_agent;
  // Over TLS: nginx's $ssl_protocol and $ssl_cipher ("" for plain TCP). The
  // json and fc formats carry them; "combined" stays the format its parsers
  // know.
  std::string_view tls_protocol;
  std::string_view tls_cipher;
};

// Appends one line for `r` in `format` to *out. The time stamp is now.
void FormatAccessLine(LogFormat format, const AccessRecord& r, std::string* out);

class AccessLog {
 public:
  static constexpr size_t kFlushBytes = 64 * 1024;

  // `path`: a file (opened for append, created 0640), or "-" for stderr.
  static Result<std::unique_ptr<AccessLog>> Open(const std::string& path, LogFormat format);
  ~AccessLog();  // writes out what is buffered
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void Add(const AccessRecord& r);
  void Flush();
  // Writes out the buffer, then opens the path again (after logrotate moved
  // it). On failure keeps writing to the old file and says why.
  Status Reopen();

 private:
  AccessLog(std::string path, LogFormat format, UniqueFd fd);
  void FlushLocked() FC_REQUIRES(mu_);
  void FlushEverySecond();

  const std::string path_;
  const LogFormat format_;
  Mutex mu_;
  UniqueFd fd_ FC_GUARDED_BY(mu_);
  std::string buffer_ FC_GUARDED_BY(mu_);
  bool stopping_ FC_GUARDED_BY(mu_) = false;
  uint64_t lost_bytes_ FC_GUARDED_BY(mu_) = 0;  // since writes started failing; 0: they succeed
  std::condition_variable_any wake_;
  std::thread flusher_;
};

}  // namespace fc::worker
