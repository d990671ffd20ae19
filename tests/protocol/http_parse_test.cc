#include "fc/protocol/http.h"

#include <gtest/gtest.h>

namespace fc::http {
namespace {

TEST(HttpParseTest, ParsesAGetWithKeepAliveRangeAndConditionals) {
  Request r;
  const std::string text =
      "GET /docs/a%20b.txt?x=1 HTTP/1.1\r\nHost: h\r\nRange: bytes=5-9\r\n"
      "If-None-Match: \"abc\"\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nNEXT";
  ASSERT_EQ(Parse(text, &r), ParseStatus::kOk);
  EXPECT_EQ(r.method, Method::kGet);
  EXPECT_EQ(r.path, "docs/a b.txt");
  EXPECT_TRUE(r.keep_alive);
  EXPECT_TRUE(r.range.present);
  EXPECT_EQ(r.range.first, 5u);
  EXPECT_EQ(r.range.last, 9u);
  EXPECT_EQ(r.if_none_match, "\"abc\"");
  EXPECT_TRUE(r.has_if_modified_since);
  EXPECT_EQ(r.if_modified_since, 784111777);
  EXPECT_EQ(text.substr(r.header_bytes), "NEXT");
}

TEST(HttpParseTest, NeedsMoreUntilTheBlankLineAndCapsTheHeader) {
  Request r;
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\n", &r), ParseStatus::kNeedMore);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nX: " + std::string(9000, 'a'), &r),
            ParseStatus::kHeaderTooLarge);
}

TEST(HttpParseTest, ConnectionSemanticsFollowTheVersion) {
  Request r;
  ASSERT_EQ(Parse("GET /a HTTP/1.0\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(Parse("GET /a HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_TRUE(r.keep_alive);
  ASSERT_EQ(Parse("GET /a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_FALSE(r.keep_alive);
}

TEST(HttpParseTest, RejectsMalformedRequests) {
  Request r;
  EXPECT_EQ(Parse("GET /a HTTP/1.1\r\n\r\n", &r), ParseStatus::kBadRequest);  // no Host
  EXPECT_EQ(Parse("GET a HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /%4 HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /a HTTP/2\r\nHost: h\r\n\r\n", &r), ParseStatus::kVersion);
  EXPECT_EQ(Parse("GET /a HTTP/1.1\r\nBad Header: x\r\nHost: h\r\n\r\n", &r),
            ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
            ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /" + std::string(5000, 'x') + " HTTP/1.1\r\nHost: h\r\n\r\n", &r),
            ParseStatus::kUriTooLong);
}

TEST(HttpParseTest, RangeFormsAndIgnoredMultiRanges) {
  Request r;
  ASSERT_EQ(Parse("GET /a HTTP/1.1\r\nHost: h\r\nRange: bytes=-500\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_TRUE(r.range.suffix);
  EXPECT_EQ(r.range.last, 500u);
  ASSERT_EQ(Parse("GET /a HTTP/1.1\r\nHost: h\r\nRange: bytes=0-1,5-6\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_FALSE(r.range.present);
  EXPECT_TRUE(r.range_invalid);
}

TEST(HttpParseTest, DatesRoundTrip) {
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  time_t t = 0;
  EXPECT_TRUE(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", &t));
  EXPECT_EQ(t, 784111777);
  EXPECT_FALSE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", &t));
}

TEST(HttpParseTest, TellsHttpFromOtherBytes) {
  EXPECT_TRUE(LooksLikeHttp("GET /"));
  EXPECT_TRUE(LooksLikeHttp("HE"));
  EXPECT_FALSE(LooksLikeHttp("FC\x01"));
}

}  // namespace
}  // namespace fc::http
