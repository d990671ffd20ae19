// A sharded fleet: real fc-masters behind a real HAProxy running
// deploy/haproxy.cfg (its bind and server lines rewritten for the test's
// ports), on loopback. Clients are fc-client's HTTP transfer (FetchHttp:
// resume with Range, verify X-Fc-Checksum), as a user of the fleet would run.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "fc/client/client.h"
#include "fc/base/checksum.h"
#include "harness.h"
#include "proxy.h"

extern char** environ;

namespace fc::testing {
namespace {



// HAProxy with deploy/haproxy.cfg for the given shard ports, plus a stats page.
class Balancer {
 public:
  Balancer() : front_(FreePort()), stats_(FreePort()), https_front_(FreePort()), reencrypt_front_(FreePort()) {}
  ~Balancer() { Stop(); }

  // HTTPS for the balancer (deploy/haproxy.cfg's two TLS layouts): the
  // front's certificate with its key (HAProxy's crt), the CA of the shards'
  // certificates, and the shards' --tls-listen ports.
  struct Tls {
    std::string crt, ca;
    std::vector<uint16_t> shard_ports;
  };
  // Starts HAProxy for `shards` (replacing a running one gracefully: -sf).
  // Without `tls` the HTTPS sections are left out.
  // `wait`: until every shard is UP (false: return once HAProxy runs).
  bool Start(const std::vector<uint16_t>& shards, const Tls* tls = nullptr, bool wait = true) {
    std::ifstream in(std::string(FC_DEPLOY_DIR) + "/haproxy.cfg");
    std::stringstream text;
    text << in.rdbuf();
    std::string config, line, section;
    std::istringstream lines(text.str());
    auto servers = [&](const std::vector<uint16_t>& ports) {
      for (size_t i = 0; i < ports.size(); ++i) {
        config += "    server fc" + std::to_string(i + 1) + " 127.0.0.1:" + std::to_string(ports[i]) + " id " +
                  std::to_string(i + 1) + "\n";
      }
    };
    auto end_section = [&] {
      if (section == "backend fc_shards") servers(shards);
      if (section == "backend fc_shards_tls" && tls != nullptr) servers(tls->shard_ports);
    };
    auto replace = [](std::string* s, const std::string& from, const std::string& to) {
      const size_t at = s->find(from);
      if (at != std::string::npos) s->replace(at, from.size(), to);
    };
    while (std::getline(lines, line)) {
      if (!line.empty() && line[0] != ' ' && line[0] != '#') {
        end_section();
        section = line;
      }
      const bool tls_part = section == "frontend fc_front_https" || section == "frontend fc_front_reencrypt" ||
                            section == "backend fc_shards_tls";
      if (tls_part && tls == nullptr) continue;
      if (line.rfind("    server fc", 0) == 0) continue;
      replace(&line, "bind 127.0.0.1:8080", "bind 127.0.0.1:" + std::to_string(front_));
      replace(&line, "bind 127.0.0.1:8443", "bind 127.0.0.1:" + std::to_string(https_front_));
      replace(&line, "bind 127.0.0.1:8444", "bind 127.0.0.1:" + std::to_string(reencrypt_front_));
      if (tls != nullptr) {
        replace(&line, "/etc/haproxy/fc.pem", tls->crt);
        replace(&line, "/etc/haproxy/fc-ca.pem", tls->ca);
      }
      config += line + "\n";
    }
    end_section();
    config += "\nfrontend stats\n    bind 127.0.0.1:" + std::to_string(stats_) +
              "\n    stats enable\n    stats uri /stats\n";
    const std::string path = dir_ / ("haproxy-" + std::to_string(generation_++) + ".cfg");
    std::ofstream(path) << config;
    std::vector<std::string> args = {"/usr/sbin/haproxy", "-db", "-f", path};
    if (pid_ > 0) {
      args.push_back("-sf");
      args.push_back(std::to_string(pid_));
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    const std::string log = dir_ / "haproxy.log";
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    pid_t pid = 0;
    const int rc = ::posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) return false;
    if (pid_ > 0) old_pids_.push_back(pid_);
    pid_ = pid;
    // Ready when every shard is UP in the new process's stats.
    if (!wait) return true;
    return WaitUntil([&] {
      return CountUp() == shards.size() && (tls == nullptr || CountUp("fc_shards_tls") == tls->shard_ports.size());
    }, 10'000);
  }

  void Stop() {
    for (pid_t p : old_pids_) Reap(p);
    old_pids_.clear();
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      Reap(pid_);
      pid_ = -1;
    }
  }

  // "UP", "DOWN", ... of server fcN, from the stats page (CSV).
  std::string Status(int n, const std::string& backend = "fc_shards") const {
    const std::string csv = StatsCsv();
    std::istringstream lines(csv);
    std::string line;
    const std::string prefix = backend + ",fc" + std::to_string(n) + ",";
    while (std::getline(lines, line)) {
      if (line.rfind(prefix, 0) != 0) continue;
      std::vector<std::string> fields;
      std::stringstream cells(line);
      for (std::string cell; std::getline(cells, cell, ',');) fields.push_back(cell);
      return fields.size() > 17 ? fields[17] : "";  // column 17: status
    }
    return "";
  }
  size_t CountUp(const std::string& backend = "fc_shards") const {
    size_t up = 0;
    for (int n = 1; n <= 16; ++n) up += Status(n, backend).rfind("UP", 0) == 0;
    return up;
  }
  uint16_t front() const { return front_; }
  uint16_t https_front() const { return https_front_; }
  uint16_t reencrypt_front() const { return reencrypt_front_; }
  std::string log() const { return ReadFileOrEmpty(dir_ / "haproxy.log"); }

 private:
  static void Reap(pid_t pid) {
    for (int i = 0; i < 200; ++i) {
      if (::waitpid(pid, nullptr, WNOHANG) == pid) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
  }
  std::string StatsCsv() const {
    RawConnection conn(stats_);
    if (!conn.connected()) return "";
    // HTTP/1.0: the body ends when HAProxy closes (no chunked encoding).
    conn.Send("GET /stats;csv HTTP/1.0\r\n\r\n");
    std::string all;
    char buf[16384];
    for (ssize_t n; (n = ::recv(conn.fd(), buf, sizeof(buf), 0)) > 0;) all.append(buf, static_cast<size_t>(n));
    const size_t body = all.find("\r\n\r\n");
    return body == std::string::npos ? "" : all.substr(body + 4);
  }

  TempDir dir_;
  uint16_t front_, stats_, https_front_, reencrypt_front_;
  pid_t pid_ = -1;
  std::vector<pid_t> old_pids_;
  int generation_ = 0;
};

// Keeps the bytes of a download in memory.
class MemorySink : public client::Sink {
 public:
  Status Write(uint64_t offset, const char* data, size_t length) override {
    if (bytes.size() < offset + length) bytes.resize(offset + length);
    bytes.replace(offset, length, data, length);
    return Status::Ok();
  }
  Status Restart() override {
    bytes.clear();
    return Status::Ok();
  }
  std::string bytes;
};

// Load: `clients` threads fetching every name in turn, verifying each.
class Load {
 public:
  Load(uint16_t front, const std::vector<std::string>& names, int clients,
       std::function<bool(uint16_t, const std::string&, std::string*)> fetch) {
    for (int c = 0; c < clients; ++c) {
      threads_.emplace_back([this, front, names, c, fetch] {
        for (size_t i = static_cast<size_t>(c) * 7; !stop_.load(); ++i) {
          std::string why;
          const bool ok = fetch(front, names[i % names.size()], &why);
          requests_.fetch_add(1);
          if (!ok) {
            failures_.fetch_add(1);
            std::lock_guard<std::mutex> lock(mu_);
            if (first_.empty()) first_ = why;
          }
        }
      });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  uint64_t requests() const { return requests_.load(); }
  uint64_t failures() const { return failures_.load(); }
  std::string first() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> requests_{0}, failures_{0};
  std::mutex mu_;
  std::string first_;
  std::vector<std::thread> threads_;
};

class FleetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/sbin/haproxy", X_OK) != 0) {
      GTEST_SKIP() << "haproxy is not installed (scripts/install-deps.sh installs it)";
    }
    for (int i = 0; i < kNames; ++i) {
      const std::string name = "n" + std::to_string(i) + ".bin";
      WriteFile(root_ / name, 2000 + 3000 * (i % 7), 100 + i);
      names_.push_back(name);
      bytes_[name] = ReadFileOrEmpty(root_ / name);
    }
  }
  // A shard: an fc-master that announces its drain to the balancer first.
  std::unique_ptr<Server> StartShard() {
    auto s = std::make_unique<Server>(root_.path(), std::vector<std::string>{
        "--workers", "2", "--drain-notice", "2", "--access-log", "off", "--policy", "lru"});
    EXPECT_TRUE(s->started()) << s->Log();
    return s;
  }
  // Fetches `name` through the front and checks every byte.
  bool Fetch(uint16_t front, const std::string& name, std::string* why) {
    client::Endpoint e{"127.0.0.1", front, 10'000};
    MemorySink sink;
    auto r = client::FetchHttp(e, name, sink, /*retries=*/5, nullptr);
    if (!r.ok()) {
      *why = r.status().message();
      return false;
    }
    if (sink.bytes != bytes_.at(name)) {
      *why = "wrong bytes for " + name;
      return false;
    }
    return true;
  }
  // Three shards behind the balancer.
  bool StartFleet(int count) {
    for (int i = 0; i < count; ++i) {
      shards_.push_back(StartShard());
      ports_.push_back(shards_.back()->port());
    }
    return balancer_.Start(ports_);
  }
  // Fetches every name once through the front, one at a time on one
  // keep-alive connection, checking the bytes.
  void FetchAll() {
    RawConnection conn(balancer_.front());
    for (const std::string& name : names_) {
      conn.Send("GET /" + name + " HTTP/1.1\r\nHost: f\r\n\r\n");
      HttpResponse r;
      ASSERT_TRUE(ReadHttpResponse(conn, &r)) << name;
      ASSERT_EQ(r.status, 200) << name;
      ASSERT_EQ(r.body, bytes_.at(name)) << name;
    }
  }
  // Three shards, every name fetched once, who owns what; then 8 clients
  // fetching continuously.
  void StartUnderLoad() {
    ASSERT_TRUE(StartFleet(3));
    FetchAll();
    owners_before_ = Owners(balancer_.front());
    auto fetch = [this](uint16_t front, const std::string& n, std::string* why) { return Fetch(front, n, why); };
    load_ = std::make_unique<Load>(balancer_.front(), names_, 8, fetch);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  // Which shard serves each name now (HAProxy's X-Served-By), one request at
  // a time on one keep-alive connection (see FetchAll).
  std::map<std::string, std::string> Owners(uint16_t front) {
    std::map<std::string, std::string> owners;
    RawConnection conn(front);
    for (const std::string& name : names_) {
      conn.Send("GET /" + name + " HTTP/1.1\r\nHost: f\r\n\r\n");
      HttpResponse r;
      EXPECT_TRUE(ReadHttpResponse(conn, &r)) << name;
      EXPECT_EQ(r.status, 200) << name;
      owners[name] = r.Header("X-Served-By");
    }
    return owners;
  }
  // The names cached on a shard, from fc-shmdump --json.
  static std::set<std::string> Cached(const Server& shard) {
    ToolResult dump = shard.Shmdump({"--json"});
    std::set<std::string> names;
    for (const std::string& n : JsonValues(dump.out, "name")) names.insert(n);
    return names;
  }

  static constexpr int kNames = 120;
  TempDir root_;
  std::vector<std::unique_ptr<Server>> shards_;
  std::vector<uint16_t> ports_;
  Balancer balancer_;
  std::map<std::string, std::string> owners_before_;
  std::vector<std::string> names_;
  std::map<std::string, std::string> bytes_;
  // Last: destroyed first, so its threads stop before what they read goes.
  std::unique_ptr<Load> load_;
};

// Under concurrent, skewed load (8 clients, Zipf-like: the first names are
// asked for far more often), every name is answered by one shard only and
// cached on one shard only. Bounded-load hashing (hash-balance-factor) would
// spill hot names to a second shard here.
TEST_F(FleetTest, EveryNameIsCachedOnExactlyOneShard) {
  std::vector<std::unique_ptr<Server>>& shards = shards_;
  Balancer& balancer = balancer_;
  ASSERT_TRUE(StartFleet(3));
  std::mutex mu;
  std::map<std::string, std::set<std::string>> served_by;
  std::map<std::string, uint64_t> per_shard;
  std::atomic<int> bad{0};
  std::vector<std::thread> clients;
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2000);
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&, t] {
      RawConnection conn(balancer.front());
      uint64_t x = 0x9E3779B97F4A7C15ull * static_cast<uint64_t>(t + 1);
      // Every name at least once, then Zipf-like draws (index = kNames^u - 1).
      for (int i = 0; std::chrono::steady_clock::now() < until || i < kNames; ++i) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        const double u = static_cast<double>(x >> 11) / 9007199254740992.0;
        const size_t pick = i < kNames ? static_cast<size_t>((i + t * 15) % kNames)
                                       : std::min<size_t>(kNames - 1, static_cast<size_t>(std::pow(kNames, u)) - 1);
        const std::string& name = names_[pick];
        HttpResponse r;
        if (!conn.Send("GET /" + name + " HTTP/1.1\r\nHost: f\r\n\r\n") || !ReadHttpResponse(conn, &r) ||
            r.status != 200 || r.body != bytes_.at(name)) {
          bad.fetch_add(1);
          return;
        }
        std::lock_guard<std::mutex> lock(mu);
        served_by[name].insert(r.Header("X-Served-By"));
        ++per_shard[r.Header("X-Served-By")];
      }
    });
  }
  for (auto& c : clients) c.join();
  ASSERT_EQ(bad.load(), 0);
  ASSERT_EQ(served_by.size(), static_cast<size_t>(kNames));
  // The price of exact affinity is skew: printed, for docs/scaling.md.
  uint64_t total = 0, most = 0;
  size_t spread = 0;
  for (const auto& [shard, n] : per_shard) total += n, most = std::max(most, n);
  for (const auto& [name, by] : served_by) spread += by.size() > 1;
  std::cout << "requests per shard:";
  for (const auto& [shard, n] : per_shard) std::cout << " " << shard << " " << n;
  std::cout << "; busiest / mean " << static_cast<double>(most) * per_shard.size() / static_cast<double>(total)
            << "; names answered by more than one shard: " << spread << "\n";
  for (const auto& [name, by] : served_by) {
    EXPECT_EQ(by.size(), 1u) << name << " was answered by " << by.size() << " shards";
  }
  std::map<std::string, int> holders;
  for (auto& s : shards) {
    const std::set<std::string> cached = Cached(*s);
    EXPECT_GT(cached.size(), static_cast<size_t>(kNames / 6)) << "a shard got almost nothing";
    for (const std::string& n : cached) ++holders[n];
  }
  EXPECT_EQ(holders.size(), static_cast<size_t>(kNames));
  for (const auto& [name, count] : holders) EXPECT_EQ(count, 1) << name << " is cached on " << count << " shards";
  // fc-cachesim --shards routes names as this HAProxy does (same hash, same ring).
  const std::map<std::string, std::string> owners = Owners(balancer.front());
  for (const std::string& name : names_) {
    ToolResult sim = RunTool({FC_CACHESIM_BIN, "--shards", "3", "--which-shard", "/" + name});
    EXPECT_EQ("fc" + sim.out.substr(0, sim.out.find('\n')), owners.at(name)) << name;
  }
}

TEST_F(FleetTest, KillingAShardFailsNoClientAndMovesOnlyItsNames) {
  std::vector<std::unique_ptr<Server>>& shards = shards_;
  Balancer& balancer = balancer_;
  StartUnderLoad();
  const std::map<std::string, std::string>& before = owners_before_;
  Load& load = *load_;
  // A SIGKILLed master leaves its segment and lock directory (the next master
  // on that name replaces them); this test removes them once its workers exit.
  struct Leftovers {
    std::string shm, locks;
    std::vector<pid_t> workers;
    ~Leftovers() {
      WaitUntil([this] {
        for (pid_t w : workers) {
          if (::kill(w, 0) == 0) return false;
        }
        return true;
      }, 20'000);
      ::shm_unlink(("/" + shm).c_str());
      std::error_code ignored;
      std::filesystem::remove_all(locks, ignored);
    }
  } leftovers{shards[1]->shm_name(), shards[1]->LockDir(), shards[1]->WorkerPids()};
  shards[1]->Kill();  // SIGKILL of the master; its workers follow
  ASSERT_TRUE(WaitUntil([&] { return balancer.Status(2).rfind("DOWN", 0) == 0; }, 10'000))
      << balancer.Status(2);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  load.Stop();
  EXPECT_GT(load.requests(), 200u);
  EXPECT_EQ(load.failures(), 0u) << load.first();
  const std::map<std::string, std::string> after = Owners(balancer.front());
  size_t moved = 0, on_dead = 0;
  for (const std::string& name : names_) {
    on_dead += before.at(name) == "fc2";
    if (before.at(name) == after.at(name)) continue;
    EXPECT_EQ(before.at(name), "fc2") << name << " moved from live shard " << before.at(name) << " to "
                                      << after.at(name) << "; fc1 " << balancer.Status(1) << ", fc3 "
                                      << balancer.Status(3);
    ++moved;
  }
  EXPECT_EQ(moved, on_dead) << "every name of the dead shard moved, and only those";
  std::printf("failover: %llu requests by 8 clients, %llu failed; %zu of %d names moved (%.0f%%), all of them "
              "the dead shard's\n",
              static_cast<unsigned long long>(load.requests()), static_cast<unsigned long long>(load.failures()),
              moved, kNames, 100.0 * static_cast<double>(moved) / kNames);
}

TEST_F(FleetTest, AddingAFourthShardMovesAboutAQuarterAndFailsNothing) {
  std::vector<std::unique_ptr<Server>>& shards = shards_;
  Balancer& balancer = balancer_;
  StartUnderLoad();
  const std::map<std::string, std::string>& before = owners_before_;
  Load& load = *load_;
  shards.push_back(StartShard());
  ports_.push_back(shards.back()->port());
  ASSERT_TRUE(balancer.Start(ports_)) << balancer.log();  // a reload: the old HAProxy finishes its requests
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  load.Stop();
  EXPECT_EQ(load.failures(), 0u) << load.first();
  const std::map<std::string, std::string> after = Owners(balancer.front());
  size_t moved = 0;
  for (const std::string& name : names_) {
    if (before.at(name) == after.at(name)) continue;
    EXPECT_EQ(after.at(name), "fc4") << name << " moved between old shards";
    ++moved;
  }
  const double share = static_cast<double>(moved) / kNames;
  EXPECT_GT(share, 0.12);
  EXPECT_LT(share, 0.40);
  std::printf("scale-out: %llu requests by 8 clients, %llu failed; %zu of %d names moved to the new shard (%.0f%%)\n",
              static_cast<unsigned long long>(load.requests()), static_cast<unsigned long long>(load.failures()),
              moved, kNames, 100.0 * share);
}

TEST_F(FleetTest, AShardsDrainShowsAsDownBeforeItsSocketCloses) {
  std::vector<std::unique_ptr<Server>>& shards = shards_;
  Balancer& balancer = balancer_;
  ASSERT_TRUE(StartFleet(3));
  for (int victim = 0; victim < 3; ++victim) {
    Server& shard = *shards[static_cast<size_t>(victim)];
    ASSERT_EQ(::kill(shard.pid(), SIGTERM), 0);
    bool down = false, open_when_down = false;
    WaitUntil([&] {
      down = balancer.Status(victim + 1).rfind("DOWN", 0) == 0;
      if (down) open_when_down = RawConnection(shard.port()).connected();
      return down;
    }, 10'000);
    EXPECT_TRUE(down) << "fc" << victim + 1 << ": " << balancer.Status(victim + 1);
    EXPECT_TRUE(open_when_down) << "fc" << victim + 1 << " closed its socket before HAProxy saw it DOWN";
    EXPECT_EQ(shard.Stop(), 0);
  }
}

// The two HTTPS layouts of deploy/haproxy.cfg: HAProxy terminates TLS and
// hashes by URI to the plain ports; and HAProxy re-encrypts to each shard's
// --tls-listen with verify required. Both route a name to the same shard,
// and a shard whose certificate the balancer cannot verify gets no request.
TEST_F(FleetTest, HttpsAtTheBalancerAndReencryptedToVerifiedShards) {
  TempDir pki;
  auto run = [](const std::vector<std::string>& argv) {
    std::vector<std::string> full = {"/usr/bin/env"};
    full.insert(full.end(), argv.begin(), argv.end());
    const ToolResult r = RunTool(full, 30'000);
    EXPECT_EQ(r.exit_code, 0) << argv[0] << " " << argv[1] << ": " << r.err;
  };
  run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       pki / "ca.key", "-out", pki / "ca.pem", "-days", "2", "-subj", "/CN=fleet test CA"});
  // One certificate for the front (localhost) and one for the shards' internal name.
  for (const std::string& who : {std::string("front"), std::string("shard")}) {
    const std::string san = who == "front" ? "DNS:localhost" : "DNS:fc-shard.internal";
    WriteText(pki / (who + ".ext"), "subjectAltName=" + san + "\n");
    run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
         pki / (who + ".key"), "-out", pki / (who + ".csr"), "-subj", "/CN=" + who});
    run({"openssl", "x509", "-req", "-in", pki / (who + ".csr"), "-CA", pki / "ca.pem", "-CAkey", pki / "ca.key",
         "-CAcreateserial", "-out", pki / (who + ".pem"), "-days", "2", "-extfile", pki / (who + ".ext")});
  }
  WriteText(pki / "front.crt", ReadFileOrEmpty(pki / "front.pem") + ReadFileOrEmpty(pki / "front.key"));
  Balancer::Tls tls{pki / "front.crt", pki / "ca.pem", {}};
  for (int i = 0; i < 3; ++i) {
    shards_.push_back(std::make_unique<Server>(
        root_.path(), std::vector<std::string>{"--workers", "2", "--policy", "lru", "--tls-listen", "127.0.0.1:0",
                                               "--tls-cert", pki / "shard.pem", "--tls-key", pki / "shard.key"}));
    ASSERT_TRUE(shards_.back()->started()) << shards_.back()->Log();
    ports_.push_back(shards_.back()->port());
    tls.shard_ports.push_back(shards_.back()->tls_port());
  }
  ASSERT_TRUE(balancer_.Start(ports_, &tls)) << balancer_.log();
  auto get = [&](uint16_t front, const std::string& name) {
    return RunTool({"/usr/bin/curl", "-sS", "--cacert", pki / "ca.pem", "-D", "-", "-o", root_ / "got.bin",
                    "https://localhost:" + std::to_string(front) + "/" + name});
  };
  auto served_by = [](const ToolResult& r) {
    const size_t at = r.out.find("x-served-by: ");
    return at == std::string::npos ? std::string() : r.out.substr(at + 13, r.out.find('\r', at) - at - 13);
  };
  for (int i = 0; i < 12; ++i) {
    const std::string& name = names_[static_cast<size_t>(i)];
    const ToolResult terminated = get(balancer_.https_front(), name);
    ASSERT_NE(terminated.out.find(" 200"), std::string::npos) << terminated.out << terminated.err << balancer_.log();
    EXPECT_EQ(ReadFileOrEmpty(root_ / "got.bin"), bytes_.at(name));
    const ToolResult reencrypted = get(balancer_.reencrypt_front(), name);
    ASSERT_NE(reencrypted.out.find(" 200"), std::string::npos) << reencrypted.out << reencrypted.err;
    EXPECT_EQ(ReadFileOrEmpty(root_ / "got.bin"), bytes_.at(name));
    EXPECT_EQ(served_by(terminated), served_by(reencrypted)) << name << ": one ring for both layouts";
  }
  // The re-encrypted requests reached the shards over TLS (their access logs).
  bool https_seen = false;
  for (auto& shard : shards_) {
    shard->WaitForLog("HTTPS GET", 2000);
    https_seen = https_seen || shard->Log().find("HTTPS GET") != std::string::npos;
  }
  EXPECT_TRUE(https_seen);
  // verify required: against another CA the shards are DOWN and get nothing.
  TempDir other;
  run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
       other / "ca.key", "-out", other / "ca.pem", "-days", "2", "-subj", "/CN=another CA"});
  Balancer::Tls wrong = tls;
  wrong.ca = other / "ca.pem";
  balancer_.Stop();
  ASSERT_TRUE(balancer_.Start(ports_, &wrong, /*wait=*/false));
  EXPECT_TRUE(WaitUntil([&] { return balancer_.Status(1, "fc_shards_tls").rfind("DOWN", 0) == 0 &&
                                     balancer_.Status(2, "fc_shards_tls").rfind("DOWN", 0) == 0 &&
                                     balancer_.Status(3, "fc_shards_tls").rfind("DOWN", 0) == 0; }, 10'000))
      << "a shard it cannot verify is taken out: " << balancer_.Status(1, "fc_shards_tls");
  const ToolResult refused = get(balancer_.reencrypt_front(), names_[0]);
  EXPECT_NE(refused.out.find(" 503"), std::string::npos) << refused.out << refused.err;
}

}  // namespace
}  // namespace fc::testing
