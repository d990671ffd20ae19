// The directory for temporary files: $TMPDIR when set, else /tmp. Everything
// fc and its tools create there goes through this, so one setting moves all
// of it. Thread-safe.
#pragma once

#include <cstdlib>
#include <string>

namespace fc {

inline std::string TempDirectory() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

}  // namespace fc
