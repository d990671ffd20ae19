// HTTP/1.1 on the fc port, against the real server: GET/HEAD, keep-alive,
// Range, validators, confinement and error statuses.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "harness.h"

namespace fc::testing {
namespace {

bool ReadResponse(RawConnection& conn, HttpResponse* r, bool head_only = false) {
  return ReadHttpResponse(conn, r, head_only);
}

class HttpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteText(root_ / "index.html", "<h1>fc</h1>\n");
    ::mkdir((root_ / "docs").c_str(), 0755);
    WriteText(root_ / "docs/a b.txt", "0123456789");
    server_ = std::make_unique<Server>(root_.path());
    ASSERT_TRUE(server_->started());
  }
  HttpResponse Get(const std::string& request) {
    RawConnection conn(server_->port());
    HttpResponse r;
    EXPECT_TRUE(conn.Send(request));
    EXPECT_TRUE(ReadResponse(conn, &r, request.rfind("HEAD", 0) == 0)) << request;
    return r;
  }
  TempDir root_;
  std::unique_ptr<Server> server_;
};

TEST_F(HttpTest, GetServesTheFileWithLengthTypeAndValidators) {
  HttpResponse r = Get("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>fc</h1>\n");
  EXPECT_EQ(r.Header("Content-Length"), "12");
  EXPECT_EQ(r.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_FALSE(r.Header("ETag").empty());
  EXPECT_FALSE(r.Header("Last-Modified").empty());
}

TEST_F(HttpTest, PercentEncodedNamesAndSubdirectories) {
  HttpResponse r = Get("GET /docs/a%20b.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "0123456789");
  EXPECT_EQ(Get("GET /docs%2fa%20b.txt HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
}

TEST_F(HttpTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  RawConnection conn(server_->port());
  ASSERT_TRUE(conn.Send("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n"
                        "HEAD /docs/a%20b.txt HTTP/1.1\r\nHost: x\r\n\r\n"
                        "GET /docs/a%20b.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  HttpResponse a, b, c;
  ASSERT_TRUE(ReadResponse(conn, &a));
  ASSERT_TRUE(ReadResponse(conn, &b, /*head_only=*/true));
  ASSERT_TRUE(ReadResponse(conn, &c));
  EXPECT_EQ(a.body, "<h1>fc</h1>\n");
  EXPECT_EQ(b.status, 200);
  EXPECT_EQ(b.Header("Content-Length"), "10");
  EXPECT_EQ(c.body, "0123456789");
  EXPECT_EQ(c.Header("Connection"), "close");
  EXPECT_TRUE(conn.ClosedByPeer());
}

TEST_F(HttpTest, SingleRangesAndUnsatisfiableRanges) {
  HttpResponse r = Get("GET /docs/a%20b.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-4\r\n\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "234");
  EXPECT_EQ(r.Header("Content-Range"), "bytes 2-4/10");
  EXPECT_EQ(Get("GET /docs/a%20b.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-3\r\n\r\n").body, "789");
  EXPECT_EQ(Get("GET /docs/a%20b.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=7-\r\n\r\n").body, "789");
  HttpResponse bad = Get("GET /docs/a%20b.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=10-\r\n\r\n");
  EXPECT_EQ(bad.status, 416);
  EXPECT_EQ(bad.Header("Content-Range"), "bytes */10");
}

TEST_F(HttpTest, ConditionalRequestsAnswer304) {
  HttpResponse first = Get("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
  const std::string etag = first.Header("ETag");
  HttpResponse r = Get("GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: " + etag + "\r\n\r\n");
  EXPECT_EQ(r.status, 304);
  EXPECT_TRUE(r.body.empty());
  r = Get("GET /index.html HTTP/1.1\r\nHost: x\r\nIf-Modified-Since: " +
          first.Header("Last-Modified") + "\r\n\r\n");
  EXPECT_EQ(r.status, 304);
  r = Get("GET /index.html HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\n\r\n");
  EXPECT_EQ(r.status, 200);
}

TEST_F(HttpTest, ConfinementAndErrorStatuses) {
  EXPECT_EQ(Get("GET /../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n").status, 403);
  EXPECT_EQ(Get("GET /%2e%2e/etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n").status, 403);
  EXPECT_EQ(Get("GET /docs/%2e%2e%2f%2e%2e%2fetc/passwd HTTP/1.1\r\nHost: x\r\n\r\n").status, 403);
  EXPECT_EQ(Get("GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n").status, 403);
  // A directory named without its slash is redirected to the slashed URL; a
  // slashed one is served by its index file, or refused when it has none and
  // listings are off (the default).
  HttpResponse moved = Get("GET /docs HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(moved.status, 301);
  EXPECT_EQ(moved.Header("Location"), "/docs/");
  EXPECT_EQ(Get("GET /docs/ HTTP/1.1\r\nHost: x\r\n\r\n").status, 403);
  HttpResponse home = Get("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(home.status, 200);
  EXPECT_EQ(home.body, "<h1>fc</h1>\n");
  EXPECT_EQ(Get("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
  HttpResponse post = Get("POST /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.Header("Allow"), "GET, HEAD, OPTIONS");
  EXPECT_EQ(Get("PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").status, 405);
  EXPECT_EQ(Get("GET /index.html HTTP/1.1\r\n\r\n").status, 400);  // no Host
  EXPECT_EQ(Get("GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
  EXPECT_EQ(Get("GET /index.html HTTP/2.0\r\nHost: x\r\n\r\n").status, 505);
  EXPECT_EQ(Get("GET /" + std::string(5000, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n").status, 414);
  EXPECT_EQ(Get("GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(9000, 'b') + "\r\n\r\n").status, 431);
  // The server still serves after all that.
  EXPECT_EQ(Get("GET /index.html HTTP/1.0\r\n\r\n").status, 200);
}

}  // namespace
}  // namespace fc::testing

namespace fc::testing {
namespace {

// The digest rule (PROTOCOL.md): a streamed 200 carries X-Fc-Checksum only
// when the request asks (X-Fc-Want-Checksum), so a browser's request costs
// no hash pass; a 200 from the cache always carries it (computed at the
// load); fc-client asks, and verifies.
TEST(HttpDigestTest, AStreamedFileIsHashedOnlyWhenTheRequestAsks) {
  TempDir root, out;
  WriteFile(root / "big.bin", 3 << 20, 5);    // larger than the 1 MiB cache: streamed
  WriteFile(root / "small.bin", 20000, 6);    // cached at its first request (lru)
  const std::string big_sum = [&] {
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(FileChecksum(root / "big.bin")));
    return std::string(hex);
  }();
  Server server(root.path(), {"--cache-size", "1M"});
  ASSERT_TRUE(server.started()) << server.Log();
  auto get = [&](const std::string& name, const std::string& extra) {
    RawConnection conn(server.port());
    HttpResponse r;
    EXPECT_TRUE(conn.Send("GET /" + name + " HTTP/1.1\r\nHost: x\r\n" + extra + "\r\n"));
    EXPECT_TRUE(ReadHttpResponse(conn, &r));
    return r;
  };
  HttpResponse plain = get("big.bin", "");
  EXPECT_EQ(plain.status, 200);
  EXPECT_EQ(plain.Header("X-Fc-Served"), "disk");
  EXPECT_EQ(plain.Header("X-Fc-Checksum"), "") << "not asked: no hash pass, no digest";
  EXPECT_EQ(plain.body.size(), size_t{3} << 20);
  HttpResponse asked = get("big.bin", "X-Fc-Want-Checksum: xxh64\r\n");
  EXPECT_EQ(asked.status, 200);
  EXPECT_EQ(asked.Header("X-Fc-Checksum"), big_sum) << "asked: the whole file's xxHash64";
  // From the cache the digest is free: always there.
  get("small.bin", "");
  HttpResponse cached = get("small.bin", "");
  EXPECT_EQ(cached.Header("X-Fc-Served"), "cache");
  EXPECT_EQ(cached.Header("X-Fc-Checksum").size(), 16u);
  // fc-client asks, so it verifies a streamed file too.
  ToolResult r = RunTool({ClientBin(), "get", "http://127.0.0.1:" + server.port_text() + "/big.bin", out.path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FileChecksum(out / "big.bin"), FileChecksum(root / "big.bin"));
}

}  // namespace
}  // namespace fc::testing
