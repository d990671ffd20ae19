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

TEST(AddressRangesTest, PrefixesMatchTheirAddressesOnly) {
  const auto ranges = ParseAddressRanges("127.0.0.0/8, ::1,10.1.0.0/16,2001:db8::/32", "--list-from").value();
  EXPECT_TRUE(InAddressRanges(ranges, "127.0.0.1"));
  EXPECT_TRUE(InAddressRanges(ranges, "127.255.1.2"));
  EXPECT_TRUE(InAddressRanges(ranges, "::ffff:127.0.0.1")) << "IPv4-mapped, on a dual-stack socket";
  EXPECT_TRUE(InAddressRanges(ranges, "::1"));
  EXPECT_TRUE(InAddressRanges(ranges, "10.1.200.3"));
  EXPECT_FALSE(InAddressRanges(ranges, "10.2.0.1"));
  EXPECT_FALSE(InAddressRanges(ranges, "128.0.0.1"));
  EXPECT_FALSE(InAddressRanges(ranges, "::2"));
  EXPECT_TRUE(InAddressRanges(ranges, "2001:db8:ffff::1"));
  EXPECT_FALSE(InAddressRanges(ranges, "2001:db9::1"));
  EXPECT_FALSE(InAddressRanges(ranges, "not-an-address"));
  EXPECT_TRUE(InAddressRanges(ParseAddressRanges("any", "x").value(), "192.0.2.7"));
  EXPECT_FALSE(InAddressRanges(ParseAddressRanges("", "x").value(), "127.0.0.1"));
  EXPECT_TRUE(InAddressRanges(ParseAddressRanges("192.0.2.128/25", "x").value(), "192.0.2.200"));
  EXPECT_FALSE(InAddressRanges(ParseAddressRanges("192.0.2.128/25", "x").value(), "192.0.2.100"));
}

TEST(AddressRangesTest, BadPrefixesAreRefusedNamingTheItem) {
  for (const char* bad : {"localhost", "10.0.0.0/33", "::1/129", "10.0.0.0/", "1.2.3.4/x"}) {
    auto r = ParseAddressRanges(std::string("127.0.0.1,") + bad, "--list-from");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("--list-from"), std::string::npos);
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
  }
}

}  // namespace
}  // namespace fc::net
