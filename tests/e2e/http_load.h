// Test helper: HTTP load on loopback that checks every byte, for the tests
// that change a running server (reload, upgrade) and must see no failure.
//
// Keep-alive clients reuse one connection; a request whose connection closes
// before ANY byte of its response arrives is retried once on a new connection
// (RFC 9112 §9.3.1 allows it for idempotent requests, and curl, browsers and
// proxies do it: a server may close an idle connection at any moment). Any
// other short read, a wrong status or a wrong byte is a failure.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fc::testing {

struct ServedFile {
  std::string name;
  std::string bytes;
};

// `count` files f0.bin, f1.bin, ... written into `dir`, file i of
// base + step * i pseudo-random bytes (seed + i), with their bytes.
std::vector<ServedFile> MakeServedFiles(const std::string& dir, int count, uint64_t base, uint64_t step,
                                        uint32_t seed);

class HttpLoad {
 public:
  HttpLoad(uint16_t port, std::vector<ServedFile> files, int keep_alive_clients, int one_shot_clients);
  ~HttpLoad();
  HttpLoad(const HttpLoad&) = delete;
  HttpLoad& operator=(const HttpLoad&) = delete;

  void Stop();  // joins the clients
  uint64_t requests() const { return requests_.load(); }
  uint64_t failures() const { return failures_.load(); }
  uint64_t retries() const { return retries_.load(); }
  std::string first_failure() const;

 private:
  void Client(int index, bool keep_alive);
  void Fail(const std::string& why);

  const uint16_t port_;
  const std::vector<ServedFile> files_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0}, failures_{0}, retries_{0};
  mutable std::mutex mu_;
  std::string first_failure_;
  std::vector<std::thread> threads_;
};

}  // namespace fc::testing
