#include "fc/client/client.h"

#include <gtest/gtest.h>

namespace fc::client {
namespace {

TEST(LocalNameTest, KeepsOnlyTheLastPathComponent) {
  EXPECT_EQ(LocalName("a.txt").value(), "a.txt");
  EXPECT_EQ(LocalName("docs/a b.txt").value(), "a b.txt");
  EXPECT_EQ(LocalName("../../etc/passwd").value(), "passwd");
  EXPECT_EQ(LocalName("/abs/name").value(), "name");
}

TEST(LocalNameTest, RefusesNamesThatWouldNotBeAFileInDir) {
  EXPECT_FALSE(LocalName("").ok());
  EXPECT_FALSE(LocalName("docs/").ok());
  EXPECT_FALSE(LocalName("..").ok());
  EXPECT_FALSE(LocalName("a/.").ok());
  EXPECT_FALSE(LocalName(std::string("a\0b", 3)).ok());
}

}  // namespace
}  // namespace fc::client
