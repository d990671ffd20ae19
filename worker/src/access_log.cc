// The access log; see access_log.h.
#include "access_log.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>

#include "fc/base/json.h"

namespace fc::worker {
namespace {

// The time stamp of the current second, formatted once per second per thread.
struct SecondStamp {
  time_t second = -1;
  char text[64] = "";
};

const char* Stamp(LogFormat format) {
  thread_local SecondStamp combined, iso;
  SecondStamp& s = format == LogFormat::kJson ? iso : combined;
  const time_t now = ::time(nullptr);
  if (now != s.second) {
    tm local;
    ::localtime_r(&now, &local);
    std::strftime(s.text, sizeof(s.text),
                  format == LogFormat::kJson ? "%Y-%m-%dT%H:%M:%S%z" : "%d/%b/%Y:%H:%M:%S %z", &local);
    s.second = now;
  }
  return s.text;
}

// nginx's escaping for quoted log fields: '"', '\' and bytes outside printable
// ASCII become \xHH, so a line can never be split or faked by a request.
void AppendEscaped(std::string_view text, std::string* out) {
  static const char kHex[] = "0123456789ABCDEF";
  for (const char c : text) {
    const auto ch = static_cast<unsigned char>(c);
    if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
      out->append("\\x");
      out->push_back(kHex[ch >> 4]);
      out->push_back(kHex[ch & 15]);
    } else {
      out->push_back(c);
    }
  }
}

// "ADDR:PORT" -> "ADDR" (the combined format's remote host).
std::string_view HostOf(std::string_view peer) {
  const size_t colon = peer.rfind(':');
  return colon == std::string_view::npos ? peer : peer.substr(0, colon);
}

void AppendNumber(uint64_t value, std::string* out) {
  char digits[24];
  const auto end = std::to_chars(digits, digits + sizeof(digits), value).ptr;
  out->append(digits, static_cast<size_t>(end - digits));
}

void FormatCombined(const AccessRecord& r, std::string* out) {
  // %h %l %u [%t] "%r" %>s %b "%{Referer}i" "%{User-agent}i"
  out->append(HostOf(r.peer));
  out->append(" - - [");
  out->append(Stamp(LogFormat::kCombined));
  out->append("] \"");
  AppendEscaped(r.method, out);
  // "%r" is the request line as received, as nginx's $request: an HTTP
  // target is visible ASCII with no space (the parser refuses anything
  // else), so the line always splits into three words; fc names are raw
  // bytes and are escaped.
  if (!r.target.empty()) {
    out->push_back(' ');
    AppendEscaped(r.target, out);
  } else {
    out->append(" /");
    AppendEscaped(r.name, out);
  }
  out->push_back(' ');
  out->append(r.protocol);
  out->append("\" ");
  AppendNumber(static_cast<uint64_t>(r.status), out);
  out->push_back(' ');
  AppendNumber(r.bytes, out);
  out->append(" \"");
  if (r.referer.empty()) {
    out->push_back('-');
  } else {
    AppendEscaped(r.referer, out);
  }
  out->append("\" \"");
  if (r.user_agent.empty()) {
    out->push_back('-');
  } else {
    AppendEscaped(r.user_agent, out);
  }
  out->append("\"\n");
}

void FormatJson(const AccessRecord& r, std::string* out) {
  char ms[32];
  std::snprintf(ms, sizeof(ms), "%.3f", r.ms);
  out->append("{\"time\":\"");
  out->append(Stamp(LogFormat::kJson));
  out->append("\",\"remote\":");
  out->append(json::Quote(HostOf(r.peer)));
  out->append(",\"protocol\":\"");
  out->append(r.protocol);
  out->append("\",\"method\":");
  out->append(json::Quote(r.method));
  out->append(",\"name\":");
  out->append(json::Quote(r.name));
  if (!r.target.empty()) {
    out->append(",\"target\":");
    out->append(json::Quote(r.target));
  }
  out->append(",\"status\":");
  AppendNumber(static_cast<uint64_t>(r.status), out);
  if (!r.fc_code.empty()) {
    out->append(",\"fc_code\":\"");
    out->append(r.fc_code);
    out->push_back('"');
  }
  out->append(",\"cache\":");
  out->append(json::Quote(r.outcome));
  out->append(",\"bytes\":");
  AppendNumber(r.bytes, out);
  out->append(",\"ms\":");
  out->append(ms);
  if (!r.referer.empty()) {
    out->append(",\"referer\":");
    out->append(json::Quote(r.referer));
  }
  if (!r.user_agent.empty()) {
    out->append(",\"user_agent\":");
    out->append(json::Quote(r.user_agent));
  }
  if (!r.tls_protocol.empty()) {
    out->append(",\"ssl_protocol\":\"");
    out->append(r.tls_protocol);
    out->append("\",\"ssl_cipher\":\"");
    out->append(r.tls_cipher);
    out->push_back('"');
  }
  out->append("}\n");
}

// fc's short line for people: "fc-worker[PID] PEER [HTTP ]OP "NAME" OUTCOME RESULT BYTESB MSms".
void FormatFc(const AccessRecord& r, std::string* out) {
  char head[64];
  std::snprintf(head, sizeof(head), "fc-worker[%d] ", static_cast<int>(::getpid()));
  out->append(head);
  out->append(r.peer);
  out->push_back(' ');
  if (r.fc_code.empty()) out->append(r.tls_protocol.empty() ? "HTTP " : "HTTPS ");
  out->append(r.method);
  out->append(" \"");
  std::string_view name = r.name.substr(0, 200);
  AppendEscaped(name, out);
  if (r.name.size() > 200) out->append("...");
  out->append("\" ");
  out->append(r.outcome);
  out->push_back(' ');
  if (r.fc_code.empty()) {
    AppendNumber(static_cast<uint64_t>(r.status), out);
  } else {
    out->append(r.fc_code);
  }
  out->push_back(' ');
  AppendNumber(r.bytes, out);
  char tail[40];
  std::snprintf(tail, sizeof(tail), "B %.3fms", r.ms);
  out->append(tail);
  if (!r.tls_protocol.empty()) {
    out->push_back(' ');
    out->append(r.tls_protocol);
    out->push_back(' ');
    out->append(r.tls_cipher);
  }
  out->push_back('\n');
}

Status WriteFully(int fd, const std::string& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno(errno, "write", "access log");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

// Appends whole lines or none. A full disk can take part of a write: into a
// regular file, under an exclusive flock that every worker's flush takes (so
// no other worker appends in between), the file is cut back to the end of
// the last whole line written, and a line is never left torn for the next
// append to run into. Pipes and terminals get WriteFully as they are.
Status WriteWholeLines(int fd, const std::string& bytes, size_t* kept) {
  *kept = 0;
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return WriteFully(fd, bytes);
  while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
  }
  const off_t before = ::lseek(fd, 0, SEEK_END);
  Status written = WriteFully(fd, bytes);
  if (!written.ok() && before >= 0) {
    const off_t after = ::lseek(fd, 0, SEEK_END);
    const size_t landed = after > before ? std::min(bytes.size(), static_cast<size_t>(after - before)) : 0;
    const size_t newline = landed == 0 ? std::string::npos : bytes.rfind('\n', landed - 1);
    const off_t keep = newline == std::string::npos ? 0 : static_cast<off_t>(newline + 1);
    if (after > before + keep) (void)!::ftruncate(fd, before + keep);
    *kept = static_cast<size_t>(keep);
  }
  ::flock(fd, LOCK_UN);
  return written;
}

Result<UniqueFd> OpenPath(const std::string& path) {
  if (path == "-") {
    UniqueFd fd(::fcntl(2, F_DUPFD_CLOEXEC, 3));
    if (!fd.valid()) return Status::FromErrno(errno, "dup", "stderr");
    return fd;
  }
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640));
  if (!fd.valid()) return Status::FromErrno(errno, "open", "access log \"" + path + "\"");
  return fd;
}

}  // namespace

Result<LogFormat> ParseLogFormat(const std::string& text) {
  if (text == "combined") return LogFormat::kCombined;
  if (text == "json") return LogFormat::kJson;
  if (text == "fc") return LogFormat::kFc;
  return Status::Error("unknown --log-format \"" + text + "\": expected combined, json or fc");
}

void FormatAccessLine(LogFormat format, const AccessRecord& r, std::string* out) {
  switch (format) {
    case LogFormat::kCombined: return FormatCombined(r, out);
    case LogFormat::kJson: return FormatJson(r, out);
    case LogFormat::kFc: return FormatFc(r, out);
  }
}

Result<std::unique_ptr<AccessLog>> AccessLog::Open(const std::string& path, LogFormat format) {
  auto fd = OpenPath(path);
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<AccessLog>(new AccessLog(path, format, std::move(fd.value())));
}

AccessLog::AccessLog(std::string path, LogFormat format, UniqueFd fd)
    : path_(std::move(path)), format_(format), fd_(std::move(fd)) {
  buffer_.reserve(kFlushBytes + 4096);
  flusher_ = std::thread([this] { FlushEverySecond(); });
}

AccessLog::~AccessLog() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  flusher_.join();
  Flush();
}

void AccessLog::Add(const AccessRecord& r) {
  MutexLock lock(&mu_);
  FormatAccessLine(format_, r, &buffer_);
  if (buffer_.size() >= kFlushBytes) FlushLocked();
}

void AccessLog::Flush() {
  MutexLock lock(&mu_);
  FlushLocked();
}

void AccessLog::FlushLocked() {
  if (buffer_.empty()) return;
  // A full disk or a closed pipe loses log lines, never requests: the error
  // is reported once on stderr, when it starts, and once more when writes
  // succeed again (with what was lost in between); the buffer starts again.
  const std::string who = "fc-worker[" + std::to_string(::getpid()) + "] ";
  size_t kept = 0;
  if (Status st = WriteWholeLines(fd_.get(), buffer_, &kept); !st.ok()) {
    if (lost_bytes_ == 0) {
      const std::string line = who + st.message() + " (" + path_ +
                               "); dropping log lines until it can be written again\n";
      (void)!::write(2, line.data(), line.size());
    }
    lost_bytes_ += buffer_.size() - kept;
  } else if (lost_bytes_ != 0) {
    const std::string line = who + "access log " + path_ + " is writable again; " +
                             std::to_string(lost_bytes_) + " bytes of log lines were lost\n";
    (void)!::write(2, line.data(), line.size());
    lost_bytes_ = 0;
  }
  buffer_.clear();
}

void AccessLog::FlushEverySecond() {
  MutexLock lock(&mu_);
  while (!stopping_) {
    wake_.wait_for(mu_, std::chrono::seconds(1));
    FlushLocked();
  }
}

Status AccessLog::Reopen() {
  MutexLock lock(&mu_);
  FlushLocked();
  auto fd = OpenPath(path_);
  if (!fd.ok()) return fd.status();
  fd_ = std::move(fd.value());
  return Status::Ok();
}

}  // namespace fc::worker
