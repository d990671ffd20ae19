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
  EXPECT_EQ(r.range, "bytes=5-9");
  EXPECT_EQ(r.if_none_match, "\"abc\"");
  EXPECT_TRUE(r.has_if_modified_since);
  EXPECT_EQ(r.if_modified_since, 784111777);
  EXPECT_EQ(text.substr(r.header_bytes), "NEXT");
  EXPECT_EQ(r.query, "x=1");
  EXPECT_FALSE(r.slash_ended);
}

TEST(HttpParseTest, KeepsTheQueryTheSlashAndTheNegotiationFields) {
  Request r;
  ASSERT_EQ(Parse("GET /docs/?page=2&sort=size HTTP/1.1\r\nHost: h\r\nAccept-Encoding: gzip\r\n"
                  "Accept-Encoding: br;q=0.5\r\nAccept: text/html\r\n\r\n",
                  &r),
            ParseStatus::kOk);
  EXPECT_EQ(r.path, "docs/");
  EXPECT_EQ(r.query, "page=2&sort=size");
  EXPECT_TRUE(r.slash_ended);
  EXPECT_TRUE(r.has_accept_encoding);
  EXPECT_EQ(r.accept_encoding, "gzip, br;q=0.5");
  EXPECT_EQ(r.accept, "text/html");
  ASSERT_EQ(Parse("GET / HTTP/1.1\r\nHost: h\r\nAccept-Encoding:\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_TRUE(r.slash_ended);
  EXPECT_TRUE(r.has_accept_encoding);
  EXPECT_EQ(r.accept_encoding, "");
  EXPECT_EQ(r.query, "");
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

TEST(HttpParseTest, DatesInAllThreeFormsAndTheirRoundTrip) {
  EXPECT_EQ(FormatHttpDate(784111777), "Sun, 06 Nov 1994 08:49:37 GMT");
  time_t t = 0;
  EXPECT_TRUE(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", &t));
  EXPECT_EQ(t, 784111777);
  t = 0;
  EXPECT_TRUE(ParseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", &t));
  EXPECT_EQ(t, 784111777);
  t = 0;
  EXPECT_TRUE(ParseHttpDate("Sun Nov  6 08:49:37 1994", &t));
  EXPECT_EQ(t, 784111777);
  EXPECT_FALSE(ParseHttpDate("Sun, 06 Nov 1994 08:49:37 UTC", &t));
  EXPECT_FALSE(ParseHttpDate("Sun Nov 6 08:49:37 1994", &t));
  EXPECT_FALSE(ParseHttpDate("yesterday", &t));
}

// Every framing ambiguity a proxy could read differently is refused.
TEST(HttpParseTest, RefusesAmbiguousFraming) {
  Request r;
  const std::string get = "GET /a HTTP/1.1\r\nHost: h\r\n";
  const std::string put = "PUT /a HTTP/1.1\r\nHost: h\r\n";
  const char* const refused[] = {
      "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",        // conflicting
      "Content-Length: 5\r\nContent-Length: 5\r\n\r\n",        // duplicate
      "Content-Length: 5, 5\r\n\r\n",                          // a list
      "Content-Length: +5\r\n\r\n",
      "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
      "Transfer-Encoding: gzip\r\n\r\n",
      "Transfer-Encoding: chunked, identity\r\n\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
      "X: a\r\n folded\r\n\r\n",                               // obs-fold
      "Content-Length : 5\r\n\r\n",                            // space before the colon
      "X: a\x01z\r\n\r\n",                                     // CTL in a value
      "X: a\rb\r\n\r\n",                                       // bare CR
      "Host: other\r\n\r\n",                                   // two Host fields
      "Range: bytes=0-1\r\nRange: bytes=2-3\r\n\r\n",
  };
  for (const char* tail : refused) {
    EXPECT_EQ(Parse(get + tail, &r), ParseStatus::kBadRequest) << tail;
    EXPECT_EQ(Parse(put + tail, &r), ParseStatus::kBadRequest) << tail;
  }
  EXPECT_EQ(Parse(get + std::string("X: a\0b\r\n\r\n", 10), &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse(std::string("GET /a HTTP/1.1\r\nHo\0st: h\r\n\r\n", 29), &r), ParseStatus::kBadRequest);
  // chunked only on methods with a body
  EXPECT_EQ(Parse(get + "Transfer-Encoding: chunked\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("HEAD /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
            ParseStatus::kBadRequest);
  ASSERT_EQ(Parse(put + "Transfer-Encoding: Chunked\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_TRUE(r.chunked);
  EXPECT_EQ(Parse("PUT /a HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", &r),
            ParseStatus::kBadRequest);
}

TEST(HttpParseTest, TheBodyStartsRightAfterTheHead) {
  Request r;
  const std::string text = "PUT /a HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbodyGET";
  ASSERT_EQ(Parse(text, &r), ParseStatus::kOk);
  EXPECT_TRUE(r.has_content_length);
  EXPECT_EQ(r.content_length, 4u);
  EXPECT_EQ(text.substr(r.header_bytes), "bodyGET");
}

TEST(HttpParseTest, BareLfLineEndingsAndLeadingEmptyLinesAreAccepted) {
  Request r;
  const std::string text = "\r\n\nGET /a HTTP/1.1\nHost: h\nRange: bytes=1-2\n\nNEXT";
  ASSERT_EQ(Parse(text, &r), ParseStatus::kOk);
  EXPECT_EQ(r.path, "a");
  EXPECT_EQ(r.range, "bytes=1-2");
  EXPECT_EQ(text.substr(r.header_bytes), "NEXT");
  EXPECT_EQ(Parse("GET /a HTTP/1.1\nHost: h\n", &r), ParseStatus::kNeedMore);
}

TEST(HttpParseTest, RequestLineShapes) {
  Request r;
  EXPECT_EQ(Parse("GET  /a HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /a  HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /a HTTP/1.1 \r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("G(T /a HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /\x80 HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  ASSERT_EQ(Parse("get /a HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_EQ(r.method, Method::kUnknown);  // methods are case-sensitive: 501
  ASSERT_EQ(Parse("PROPFIND /a HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_EQ(r.method, Method::kUnknown);
  ASSERT_EQ(Parse("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kOk);
  EXPECT_TRUE(r.asterisk);
  EXPECT_EQ(Parse("GET * HTTP/1.1\r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  ASSERT_EQ(Parse("GET http://example.com:80/d/a%20b?q HTTP/1.1\r\nHost: x\r\n\r\n", &r),
            ParseStatus::kOk);
  EXPECT_EQ(r.path, "d/a b");
  EXPECT_EQ(Parse("GET ftp://example.com/a HTTP/1.1\r\nHost: x\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /a HTTP/1.2x\r\nHost: h\r\n\r\n", &r), ParseStatus::kBadRequest);
  EXPECT_EQ(Parse("GET /a HTTP/3.0\r\nHost: h\r\n\r\n", &r), ParseStatus::kVersion);
}

TEST(HttpParseTest, ConnectionIsAListAndCloseWins) {
  Request r;
  ASSERT_EQ(Parse("GET /a HTTP/1.1\r\nHost: h\r\nConnection: keep-alive, Close\r\n\r\n", &r),
            ParseStatus::kOk);
  EXPECT_FALSE(r.keep_alive);
  ASSERT_EQ(Parse("GET /a HTTP/1.1\r\nHost: h\r\nConnection: close, keep-alive\r\n\r\n", &r),
            ParseStatus::kOk);
  EXPECT_FALSE(r.keep_alive);
}

TEST(HttpParseTest, SingleRangesResolveAgainstTheSize) {
  std::vector<ByteSpan> s;
  ASSERT_EQ(ResolveRanges("bytes=5-9", 100, &s), RangeOutcome::kRanges);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].first, 5u);
  EXPECT_EQ(s[0].last, 9u);
  ASSERT_EQ(ResolveRanges("bytes=-500", 100, &s), RangeOutcome::kRanges);
  EXPECT_EQ(s[0].first, 0u);
  EXPECT_EQ(s[0].last, 99u);
  ASSERT_EQ(ResolveRanges("bytes=90-", 100, &s), RangeOutcome::kRanges);
  EXPECT_EQ(s[0].last, 99u);
  EXPECT_EQ(ResolveRanges("bytes=100-", 100, &s), RangeOutcome::kUnsatisfiable);
  EXPECT_EQ(ResolveRanges("bytes=-0", 100, &s), RangeOutcome::kUnsatisfiable);
  EXPECT_EQ(ResolveRanges("bytes=0-0", 0, &s), RangeOutcome::kUnsatisfiable);
  EXPECT_EQ(ResolveRanges("bytes=9-5", 100, &s), RangeOutcome::kIgnore);
  EXPECT_EQ(ResolveRanges("items=0-5", 100, &s), RangeOutcome::kIgnore);
  EXPECT_EQ(ResolveRanges("bytes=x-5", 100, &s), RangeOutcome::kIgnore);
}

TEST(HttpParseTest, MultipleRangesAreSortedCoalescedAndCapped) {
  std::vector<ByteSpan> s;
  ASSERT_EQ(ResolveRanges("bytes=500-599, 0-1", 1000, &s), RangeOutcome::kRanges);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].first, 0u);
  EXPECT_EQ(s[1].first, 500u);
  // Overlapping and near ranges merge: no byte is sent twice.
  ASSERT_EQ(ResolveRanges("bytes=0-10,5-20,40-50,900-", 1000, &s), RangeOutcome::kRanges);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].last, 50u);
  EXPECT_EQ(s[1].first, 900u);
  EXPECT_EQ(s[1].last, 999u);
  // The "Apache Killer" shape: many overlapping ranges become one.
  std::string killer = "bytes=0-";
  for (int i = 1; i < 60; ++i) killer += "," + std::to_string(i) + "-" + std::to_string(i + 100);
  ASSERT_EQ(ResolveRanges(killer, 1000, &s), RangeOutcome::kRanges);
  EXPECT_EQ(s.size(), 1u);
  // Too many specs, or too many parts after merging: the whole file instead.
  std::string many = "bytes=0-0";
  for (int i = 1; i < 70; ++i) many += "," + std::to_string(i * 1000) + "-" + std::to_string(i * 1000);
  EXPECT_EQ(ResolveRanges(many, 100000, &s), RangeOutcome::kIgnore);
  std::string seventeen = "bytes=0-0";
  for (int i = 1; i < 17; ++i) seventeen += "," + std::to_string(i * 1000) + "-" + std::to_string(i * 1000);
  EXPECT_EQ(ResolveRanges(seventeen, 100000, &s), RangeOutcome::kIgnore);
  // Unsatisfiable members are dropped; all of them unsatisfiable is 416.
  ASSERT_EQ(ResolveRanges("bytes=0-1,5000-6000", 1000, &s), RangeOutcome::kRanges);
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(ResolveRanges("bytes=2000-,5000-6000", 1000, &s), RangeOutcome::kUnsatisfiable);
}

TEST(HttpParseTest, EntityTagComparison) {
  EXPECT_TRUE(StrongMatch("\"a\"", "\"a\""));
  EXPECT_FALSE(StrongMatch("W/\"a\"", "\"a\""));
  EXPECT_FALSE(StrongMatch("\"a\"", "\"b\""));
  EXPECT_TRUE(ListMatches("\"x\", W/\"a\"", "\"a\"", /*weak=*/true));
  EXPECT_FALSE(ListMatches("\"x\", W/\"a\"", "\"a\"", /*weak=*/false));
  EXPECT_TRUE(ListMatches("*", "\"a\"", false));
  EXPECT_FALSE(ListMatches("\"ab\"", "\"a\"", true));
}

TEST(HttpParseTest, FieldsFcActsOn) {
  Request r;
  ASSERT_EQ(Parse("PUT /a HTTP/1.1\r\nHost: h\r\nauthorization: bearer T\r\n"
                  "If-Match: \"1\"\r\nIf-Match: \"2\"\r\nIf-Range: \"3\"\r\n"
                  "If-Unmodified-Since: Sun Nov  6 08:49:37 1994\r\n"
                  "X-Fc-Checksum: 00000000000000FF\r\nExpect: 100-continue\r\n"
                  "Content-Length: 0\r\n\r\n",
                  &r),
            ParseStatus::kOk);
  EXPECT_EQ(r.authorization, "bearer T");
  EXPECT_EQ(r.if_match, "\"1\", \"2\"");
  EXPECT_EQ(r.if_range, "\"3\"");
  EXPECT_TRUE(r.has_if_unmodified_since);
  EXPECT_EQ(r.if_unmodified_since, 784111777);
  EXPECT_TRUE(r.has_checksum);
  EXPECT_EQ(r.checksum, 255u);
  EXPECT_TRUE(r.expect_continue);
}

}  // namespace
}  // namespace fc::http
