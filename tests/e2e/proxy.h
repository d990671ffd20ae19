// Test harness: a real reverse proxy (HAProxy or nginx, Debian's packages) on
// loopback in front of an fc server, from a config in tests/e2e/proxies/.
// Stopped (SIGTERM, then SIGKILL) on destruction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "harness.h"

namespace fc::testing {

class Proxy {
 public:
  enum class Kind { kHaproxy, kNginx };
  Proxy(Kind kind, uint16_t upstream_port);
  ~Proxy();
  Proxy(const Proxy&) = delete;
  Proxy& operator=(const Proxy&) = delete;

  // Empty when running; otherwise why not (for GTEST_SKIP or a failure).
  const std::string& problem() const { return problem_; }
  uint16_t port() const { return port_; }
  static const char* Name(Kind kind) { return kind == Kind::kHaproxy ? "haproxy" : "nginx"; }

 private:
  TempDir dir_;
  pid_t pid_ = -1;
  uint16_t port_ = 0;
  std::string problem_;
};

// A port that was free a moment ago on 127.0.0.1.
uint16_t FreePort();

}  // namespace fc::testing
