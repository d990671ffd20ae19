// The seed 000 "Results" table, replayed against the real server: two clients
// at once, 25 requests each, files of 5.2 to 68 MB. Every file must come back
// byte-identical and every `list` must match what an LRU cache of the server's
// real capacity should hold at that point.
#include <gtest/gtest.h>

#include <algorithm>
#include <list>
#include <map>
#include <set>
#include <thread>

#include "harness.h"

namespace fc::testing {
namespace {

// The sizes of seed 000 (MB = 10^6 bytes).
const std::map<std::string, uint64_t> kSeedFiles = {
    {"file1.txt", 5'200'000},  {"file2.txt", 10'500'000}, {"file3.txt", 15'700'000},
    {"file4.txt", 21'000'000}, {"file5.txt", 52'400'000}, {"file6.txt", 68'000'000}};

// The request column of seed 000's table; both clients run the same sequence.
const std::vector<std::string> kSeedRequests = {
    "file5.txt", "file4.txt", "list", "file1.txt", "file5.txt", "list", "file4.txt",
    "file2.txt", "list",      "file3.txt", "file5.txt", "list", "file6.txt", "file2.txt",
    "list",      "file4.txt", "file5.txt", "list", "file4.txt", "file5.txt", "list",
    "file4.txt", "file1.txt", "file2.txt", "list"};

// A plain reference LRU over whole packets, written apart from shm_cache.
class ReferenceLru {
 public:
  ReferenceLru(uint64_t packets, uint64_t packet_size) : capacity_(packets), ps_(packet_size) {}
  void Request(const std::string& name, uint64_t size) {
    const uint64_t need = (name.size() + size + ps_ - 1) / ps_;
    auto it = std::find(order_.begin(), order_.end(), name);
    if (it != order_.end()) {
      order_.erase(it);
      order_.push_back(name);
      return;
    }
    if (need > capacity_) return;  // streamed, never cached
    while (used_ + need > capacity_) {
      used_ -= held_[order_.front()];
      held_.erase(order_.front());
      order_.pop_front();
    }
    order_.push_back(name);
    held_[name] = need;
    used_ += need;
  }
  std::set<std::string> Names() const { return {order_.begin(), order_.end()}; }

 private:
  uint64_t capacity_, ps_, used_ = 0;
  std::list<std::string> order_;
  std::map<std::string, uint64_t> held_;
};

TEST(SeedScenarioTest, TwoClientsRunTheResultsTableAndGetIdenticalBytes) {
  TempDir root, out1, out2;
  std::map<std::string, uint64_t> checksums;
  uint32_t seed = 1;
  for (const auto& [name, size] : kSeedFiles) {
    WriteFile(root / name, size, seed++);
    checksums[name] = FileChecksum(root / name);
  }
  Server server(root.path(), {"--workers", "4", "--quiet"});
  ASSERT_TRUE(server.started());
  ToolResult dump = server.Shmdump({"--json"});
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  ReferenceLru model(JsonNumber(dump.out, "packet_count"), JsonNumber(dump.out, "packet_size"));

  for (size_t row = 0; row < kSeedRequests.size(); ++row) {
    const std::string& request = kSeedRequests[row];
    ToolResult results[2];
    const std::string dirs[2] = {out1.path(), out2.path()};
    std::thread clients[2];
    for (int c = 0; c < 2; ++c) {
      clients[c] = std::thread([&, c] {
        results[c] = request == "list" ? server.Client({"list", "--json"})
                                       : server.Client({"get", request, dirs[c], "--quiet"}, 120'000);
      });
    }
    for (auto& t : clients) t.join();
    for (int c = 0; c < 2; ++c) {
      ASSERT_EQ(results[c].exit_code, 0) << "row " << row + 1 << " client " << c + 1 << ": "
                                         << results[c].err;
    }
    if (request == "list") {
      for (int c = 0; c < 2; ++c) {
        const auto names = JsonValues(results[c].out, "name");
        EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), model.Names())
            << "row " << row + 1 << " client " << c + 1 << ": " << results[c].out;
      }
      continue;
    }
    model.Request(request, kSeedFiles.at(request));
    for (int c = 0; c < 2; ++c) {
      const std::string path = dirs[c] + "/" + request;
      EXPECT_EQ(FileChecksum(path), checksums[request]) << "row " << row + 1 << " client " << c + 1;
      ::unlink(path.c_str());
    }
  }
  // file6 (68 MB) is larger than the cache and was streamed, never cached.
  EXPECT_EQ(model.Names().count("file6.txt"), 0u);
  ToolResult check = server.Shmdump({"--check"});
  EXPECT_EQ(check.exit_code, 0) << check.out;
  ToolResult final_dump = server.Shmdump({});
  std::printf("fc-shmdump after the seed scenario:\n%s", final_dump.out.c_str());
}

}  // namespace
}  // namespace fc::testing
