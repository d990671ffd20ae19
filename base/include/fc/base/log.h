// Log lines for every fc program: "<program>[<pid>] <message>\n" on stderr,
// built from any mix of values with operator<< (type-safe: no format strings)
// and written with one write(2), so lines of processes sharing stderr never
// interleave. The per-request access line of the worker keeps its own fast
// path (access_log.cc). Thread-safe.
#pragma once

#include <sstream>
#include <string>

#include "fc/base/status.h"

namespace fc::log {

// The program name in front of every line ("fc-master", "fc-worker"). The pid
// is read for each line, so a forked worker logs its own.
void SetProgram(const char* name);

// Points stderr (fd 2) at `path`, opened for append and created 0640: the
// error log. On failure stderr stays as it was. Empty path: nothing to do.
Status RedirectStderr(const std::string& path);

// Writes one line (a newline is added).
void Write(const std::string& message);

template <typename... Parts>
void Line(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  Write(out.str());
}

}  // namespace fc::log
