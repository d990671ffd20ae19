// Accept-Encoding negotiation and coding lists (protocol/content_coding.h).
#include "fc/protocol/content_coding.h"

#include <gtest/gtest.h>

namespace fc::http {
namespace {

const std::vector<Coding> kAll = {Coding::kBrotli, Coding::kZstd, Coding::kGzip};

std::string Pick(std::string_view field, const std::vector<Coding>& offered = kAll) {
  const std::optional<Coding> c = Negotiate(field, true, offered);
  return c ? CodingToken(*c) : "identity";
}

TEST(Negotiate, ServerOrderBreaksTies) {
  EXPECT_EQ(Pick("gzip, deflate, br, zstd"), "br");
  EXPECT_EQ(Pick("gzip, zstd"), "zstd");
  EXPECT_EQ(Pick("gzip"), "gzip");
  EXPECT_EQ(Pick("gzip, br", {Coding::kGzip, Coding::kBrotli}), "gzip");
}

TEST(Negotiate, QValuesWin) {
  EXPECT_EQ(Pick("br;q=0.5, gzip;q=0.9"), "gzip");
  EXPECT_EQ(Pick("br;q=0.5, gzip;q=0.5, zstd;q=0.501"), "zstd");
  EXPECT_EQ(Pick("br;q=0, gzip"), "gzip");
  EXPECT_EQ(Pick("gzip;q=0"), "identity");
  EXPECT_EQ(Pick("GZIP ; Q=1.000"), "gzip");
  EXPECT_EQ(Pick("x-gzip"), "gzip");
}

TEST(Negotiate, StarAndIdentity) {
  EXPECT_EQ(Pick("*"), "br");
  EXPECT_EQ(Pick("*;q=0.1, gzip;q=0.5"), "gzip");
  EXPECT_EQ(Pick("*;q=0"), "identity");           // disregarded: identity is sent
  EXPECT_EQ(Pick("identity"), "identity");
  EXPECT_EQ(Pick("identity;q=0, *;q=0"), "identity");
  EXPECT_EQ(Pick("*, br;q=0"), "zstd");
  EXPECT_EQ(Pick(""), "identity");                // an empty field: identity only
  EXPECT_FALSE(Negotiate("gzip", false, kAll));   // no field: identity
  EXPECT_EQ(Pick("gzip", {}), "identity");
}

TEST(Negotiate, MalformedMembersAreIgnored) {
  EXPECT_EQ(Pick("br;q=2, gzip"), "gzip");
  EXPECT_EQ(Pick("br;q=0.5555, gzip;q=0.1"), "gzip");
  EXPECT_EQ(Pick("br;q=, zstd;q=abc, gzip;q=0.2"), "gzip");
  EXPECT_EQ(Pick(",,, ;q=1, gzip"), "gzip");
  EXPECT_EQ(Pick("compress, deflate"), "identity");
}

TEST(Negotiate, AcceptableCodingsAreRankedForFallback) {
  const std::vector<Coding> order = AcceptableCodings("gzip;q=0.8, br;q=0.1, zstd;q=0.8", true, kAll);
  ASSERT_EQ(order.size(), 3u);
  EXPECT_EQ(order[0], Coding::kZstd);
  EXPECT_EQ(order[1], Coding::kGzip);
  EXPECT_EQ(order[2], Coding::kBrotli);
  EXPECT_TRUE(AcceptableCodings("identity", true, kAll).empty());
}

TEST(CodingList, ParsesAndRefuses) {
  std::string bad;
  auto list = ParseCodingList("br, zstd,gzip", &bad);
  ASSERT_TRUE(list);
  EXPECT_EQ(CodingListText(*list), "br,zstd,gzip");
  list = ParseCodingList("", &bad);
  ASSERT_TRUE(list);
  EXPECT_TRUE(list->empty());
  EXPECT_FALSE(ParseCodingList("gzip,deflate", &bad));
  EXPECT_EQ(bad, "deflate");
  EXPECT_FALSE(ParseCodingList("gzip,gzip", &bad));
  EXPECT_EQ(bad, "gzip");
  EXPECT_STREQ(CodingSuffix(Coding::kZstd), ".zst");
}

}  // namespace
}  // namespace fc::http
