#include "fc/base/net.h"

#include <gtest/gtest.h>

namespace fc::net {
namespace {

TEST(ParseByteSizeTest, AcceptsSuffixesInPowersOf1024) {
  EXPECT_EQ(ParseByteSize("64M", "size").value(), 64ull << 20);
  EXPECT_EQ(ParseByteSize("64MiB", "size").value(), 64ull << 20);
  EXPECT_EQ(ParseByteSize("4k", "size").value(), 4096u);
  EXPECT_EQ(ParseByteSize("1G", "size").value(), 1ull << 30);
  EXPECT_EQ(ParseByteSize("1234", "size").value(), 1234u);
}

TEST(ParseByteSizeTest, RejectsGarbageWithAMessageNamingTheOption) {
  auto r = ParseByteSize("lots", "--cache-size");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("--cache-size"), std::string::npos);
  EXPECT_FALSE(ParseByteSize("12X", "size").ok());
  EXPECT_FALSE(ParseByteSize("99999999999999999999", "size").ok());
}

TEST(ParsePortTest, AcceptsRangeAndRejectsOthers) {
  EXPECT_EQ(ParsePort("0").value(), 0);
  EXPECT_EQ(ParsePort("65535").value(), 65535);
  EXPECT_FALSE(ParsePort("65536").ok());
  EXPECT_FALSE(ParsePort("80k").ok());
  EXPECT_FALSE(ParsePort("").ok());
}

TEST(ConnectTcpTest, RefusedConnectionNamesTheHost) {
  // Port 1 on loopback is not listening in the test environment.
  auto r = ConnectTcp("127.0.0.1", 1, 1000);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("127.0.0.1:1"), std::string::npos);
}

}  // namespace
}  // namespace fc::net
