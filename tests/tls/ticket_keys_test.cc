// TicketKeys: two processes with the same state derive the same keys at
// every later period, a key opens tickets for one more period and then not,
// the step is one-way, and the hand-over survives Serialize/Parse.
#include "fc/tls/ticket_keys.h"

#include <gtest/gtest.h>

#include <cstring>

namespace fc::tls {
namespace {

constexpr int64_t kPeriod = TicketKeys::kRotateSeconds;
constexpr int64_t kStart = 1'800'000'000;  // a wall-clock second

bool SameKey(const TicketKey& a, const TicketKey& b) { return std::memcmp(&a, &b, sizeof(a)) == 0; }

TEST(TicketKeysTest, ForksOfOneStateDeriveTheSameKeysAtEveryLaterPeriod) {
  auto master = TicketKeys::Generate(kStart);
  ASSERT_TRUE(master.ok());
  TicketKeys worker_a = master.value(), worker_b = master.value();  // forked at different times
  worker_a.AdvanceTo(kStart + 3 * kPeriod);
  master.value().AdvanceTo(kStart + 2 * kPeriod);
  TicketKeys late_fork = master.value();
  late_fork.AdvanceTo(kStart + 3 * kPeriod);
  worker_b.AdvanceTo(kStart + 3 * kPeriod);
  EXPECT_TRUE(SameKey(worker_a.current(), worker_b.current()));
  EXPECT_TRUE(SameKey(worker_a.current(), late_fork.current()));
  // Another master's keys are others.
  auto other = TicketKeys::Generate(kStart);
  ASSERT_TRUE(other.ok());
  other.value().AdvanceTo(kStart + 3 * kPeriod);
  EXPECT_FALSE(SameKey(other.value().current(), worker_a.current()));
}

TEST(TicketKeysTest, AKeyOpensTicketsOneMorePeriodThenNot) {
  auto keys = TicketKeys::Generate(kStart);
  ASSERT_TRUE(keys.ok());
  const TicketKey sealed_with = keys.value().current();
  const TicketKey* found = nullptr;
  EXPECT_EQ(keys.value().Find(sealed_with.name, &found), 1);
  keys.value().AdvanceTo(kStart + kPeriod);
  EXPECT_FALSE(SameKey(keys.value().current(), sealed_with)) << "rotated";
  ASSERT_EQ(keys.value().Find(sealed_with.name, &found), 2) << "the previous key: open, then renew";
  EXPECT_TRUE(SameKey(*found, sealed_with));
  keys.value().AdvanceTo(kStart + 2 * kPeriod);
  EXPECT_EQ(keys.value().Find(sealed_with.name, &found), 0) << "two periods on: a full handshake";
}

TEST(TicketKeysTest, AClockSetBackKeepsTheCurrentKey) {
  auto keys = TicketKeys::Generate(kStart + kPeriod);
  ASSERT_TRUE(keys.ok());
  const TicketKey now = keys.value().current();
  keys.value().AdvanceTo(kStart - 5 * kPeriod);
  EXPECT_TRUE(SameKey(keys.value().current(), now));
}

TEST(TicketKeysTest, TheHandOverToANewMasterKeepsEveryKey) {
  auto keys = TicketKeys::Generate(kStart);
  ASSERT_TRUE(keys.ok());
  keys.value().AdvanceTo(kStart + kPeriod);
  auto parsed = TicketKeys::Parse(keys.value().Serialize());
  ASSERT_TRUE(parsed.ok()) << parsed.status().message();
  EXPECT_TRUE(SameKey(parsed.value().current(), keys.value().current()));
  const TicketKey* found = nullptr;
  const TicketKey sealed_before = keys.value().current();
  parsed.value().AdvanceTo(kStart + 2 * kPeriod);
  keys.value().AdvanceTo(kStart + 2 * kPeriod);
  EXPECT_TRUE(SameKey(parsed.value().current(), keys.value().current()));
  EXPECT_EQ(parsed.value().Find(sealed_before.name, &found), 2) << "the old master's last key still opens";
  EXPECT_FALSE(TicketKeys::Parse("short").ok());
  std::string tampered = keys.value().Serialize();
  tampered[0] = 'X';
  EXPECT_FALSE(TicketKeys::Parse(tampered).ok());
}

}  // namespace
}  // namespace fc::tls
