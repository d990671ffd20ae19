// PlanReload (master/src/reload_plan.h): what a SIGHUP runs, without running it.
#include "reload_plan.h"

#include <gtest/gtest.h>

namespace fc::master {
namespace {

// A running master as RunMaster leaves it: its parsed options, what they
// resolved to, and what start-up made for the workers.
struct Running {
  MasterConfig parsed, running;
  worker::WorkerHandOff made;
  Running() {
    parsed.worker.root = "/srv/www";
    running = parsed;
    running.cache.shm_name = "fc-9000";
    made.shm_name = "fc-9000";
    made.lock_dir = "/run/fc/fc-9000.locks";
    made.lock_salt = 42;
  }
};

TEST(ReloadPlanTest, AnUnchangedConfigurationPlansTheRunningOneAndKeepsNothing) {
  Running r;
  const ReloadPlan plan = PlanReload(r.parsed, r.running, r.made, r.parsed, "/srv/www", 16);
  EXPECT_TRUE(plan.kept.empty());
  EXPECT_EQ(plan.config.workers, 4u);
  EXPECT_EQ(plan.config.worker.root, "/srv/www");
  EXPECT_EQ(plan.config.lock_dir, "");
}

TEST(ReloadPlanTest, WhatLivesInTheSegmentOrTheSocketsKeepsItsRunningValueAndSaysSo) {
  Running r;
  MasterConfig next = r.parsed;
  next.port = 9001;
  next.host = "0.0.0.0";
  next.cache.segment_size = 1ull << 30;
  next.cache.policy = shm_cache::Policy::kLru;
  next.user = "www-data";
  next.lock_dir = "/tmp/elsewhere";
  const ReloadPlan plan = PlanReload(r.parsed, r.running, r.made, next, "/srv/www", 16);
  const std::vector<std::string> expected = {
      "--host needs a restart; keeping 127.0.0.1",
      "--port needs a restart; keeping 9000",
      "--cache-size needs a restart; keeping " + std::to_string(r.parsed.cache.segment_size) + " bytes",
      "--policy needs a restart; keeping fc",
      "--lock-dir needs a restart; keeping /run/fc/fc-9000.locks",
      "--user needs a restart; keeping the default",
  };
  EXPECT_EQ(plan.kept, expected);
  EXPECT_EQ(plan.config.port, 9000);
  EXPECT_EQ(plan.config.host, "127.0.0.1");
  EXPECT_EQ(plan.config.cache.segment_size, r.running.cache.segment_size);
  EXPECT_EQ(plan.config.cache.policy, shm_cache::Policy::kFc);
  EXPECT_EQ(plan.config.user, "");
  EXPECT_EQ(plan.config.lock_dir, "");
}

TEST(ReloadPlanTest, ChangingEveryRestartOnlyOptionKeepsEachOnceInTheListsOrder) {
  Running r;
  MasterConfig next = r.parsed;
  next.host = "0.0.0.0";
  next.port = 9001;
  next.cache.segment_size = 1ull << 30;
  next.cache.packet_size = 4096;
  next.cache.policy = shm_cache::Policy::kSieve;
  next.cache.shm_name = "other";
  next.lock_dir = "/tmp/elsewhere";
  next.user = "www-data";
  next.metrics_listen = "127.0.0.1:9100";
  next.tls_listen = "0.0.0.0:443";
  const ReloadPlan plan = PlanReload(r.parsed, r.running, r.made, next, "/srv/www", 16);
  const std::vector<RestartOnlyOption>& options = RestartOnlyOptions();
  ASSERT_EQ(plan.kept.size(), options.size());
  for (size_t i = 0; i < options.size(); ++i) {
    EXPECT_EQ(plan.kept[i].rfind(std::string(options[i].name) + " needs a restart; keeping ", 0), 0u)
        << plan.kept[i];
  }
  EXPECT_EQ(plan.config.cache.shm_name, "fc-9000");
  EXPECT_EQ(plan.config.metrics_listen, "");
  EXPECT_EQ(plan.config.tls_listen, "");
  EXPECT_FALSE(plan.config.worker.redirect_https) << "no redirect to a TLS port that is not there";
}

// The certificates and TLS settings are read again; the TLS port stays.
TEST(ReloadPlanTest, TlsFilesAndSettingsComeFromTheNewConfigurationButThePortStays) {
  Running r;
  r.running.tls_listen = r.parsed.tls_listen = "127.0.0.1:8443";
  r.running.worker.https_port = 8443;
  MasterConfig next = r.parsed;
  next.tls_certs = {"/etc/fc/new.pem"};
  next.tls_keys = {"/etc/fc/new.key"};
  next.tls.protocols = {"TLSv1.3"};
  next.worker.hsts_seconds = 600;
  next.worker.redirect_https = true;
  const ReloadPlan plan = PlanReload(r.parsed, r.running, r.made, next, "/srv/www", 16);
  EXPECT_TRUE(plan.kept.empty());
  EXPECT_EQ(plan.config.tls_listen, "127.0.0.1:8443");
  EXPECT_EQ(plan.config.worker.https_port, 8443);
  EXPECT_EQ(plan.config.tls_certs, std::vector<std::string>{"/etc/fc/new.pem"});
  EXPECT_EQ(plan.config.tls_keys, std::vector<std::string>{"/etc/fc/new.key"});
  EXPECT_EQ(plan.config.tls.protocols, std::vector<std::string>{"TLSv1.3"});
  EXPECT_EQ(plan.config.worker.hsts_seconds, 600);
  EXPECT_TRUE(plan.config.worker.redirect_https);
}

TEST(ReloadPlanTest, WorkerOptionsComeFromTheNewConfigurationButTheSegmentsNameStays) {
  Running r;
  MasterConfig next = r.parsed;
  next.worker.root = "site";  // relative: the caller resolved it
  next.worker.threads = 3;
  next.worker.index_files = {"home.html"};
  next.worker.compress = {http::Coding::kGzip};
  next.worker.error_log = "/var/log/fc/error.log";
  next.upgrade_binary = "/usr/sbin/fc-master.new";
  next.upgrade_timeout_ms = 5000;
  next.config_file = "/etc/fc/fc.conf";
  const ReloadPlan plan = PlanReload(r.parsed, r.running, r.made, next, "/srv/site", 16);
  EXPECT_TRUE(plan.kept.empty());
  EXPECT_EQ(plan.config.worker.root, "/srv/site");
  EXPECT_EQ(plan.config.worker.threads, 3);
  EXPECT_EQ(plan.config.worker.index_files, std::vector<std::string>{"home.html"});
  EXPECT_EQ(plan.config.worker.compress.size(), 1u);
  EXPECT_EQ(plan.config.worker.error_log, "/var/log/fc/error.log");
  EXPECT_EQ(plan.config.cache.shm_name, "fc-9000");
  EXPECT_EQ(plan.config.upgrade_binary, "/usr/sbin/fc-master.new");
  EXPECT_EQ(plan.config.upgrade_timeout_ms, 5000);
  EXPECT_EQ(plan.config.config_file, "/etc/fc/fc.conf");
}

TEST(ReloadPlanTest, MoreWorkersThanHalfTheSlotsRunsHalfAndSaysWhy) {
  Running r;
  MasterConfig next = r.parsed;
  next.workers = 100;
  const ReloadPlan plan = PlanReload(r.parsed, r.running, r.made, next, "/srv/www", 16);
  EXPECT_EQ(plan.config.workers, 8u);
  ASSERT_EQ(plan.kept.size(), 1u);
  EXPECT_EQ(plan.kept[0], "--workers 100 needs a restart (the cache has slots for 8 during a reload); running 8");
  next.workers = 8;
  EXPECT_TRUE(PlanReload(r.parsed, r.running, r.made, next, "/srv/www", 16).kept.empty());
}

}  // namespace
}  // namespace fc::master
