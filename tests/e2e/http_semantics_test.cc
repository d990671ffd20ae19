// RFC 9110 semantics on the real server: If-Range, multiple ranges,
// preconditions (412), methods (405/501/OPTIONS), the health endpoint, media
// types, connection handling, and one cache entry per canonical name.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "harness.h"

namespace fc::testing {
namespace {

const char kDigits[] = "0123456789abcdefghijklmnopqrstuvwxyz";  // 36 bytes

class HttpSemanticsTest : public HttpServerTest {
 protected:
  void SetUp() override {
    WriteText(root_ / "a.txt", kDigits);
    WriteFile(root_ / "big.bin", 3 << 20, 7);
    WriteFile(root_ / "r.bin", 1000, 8);  // over a 1 MiB cache: streamed from disk
    ::mkdir((root_ / "sub").c_str(), 0755);
    WriteText(root_ / "sub/x.txt", "x\n");
    for (const char* name : {"m.wasm", "M.WEBP", "T.HTML", "f.woff2", "v.mp4", "d.xml", "n.unknownext"}) {
      WriteText(root_ / name, "z");
    }
  }
  static std::string Req(const std::string& target, const std::string& fields = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: x\r\n" + fields + "\r\n";
  }
};

TEST_F(HttpSemanticsTest, IfRangeSendsTheWholeFileWhenTheValidatorDiffers) {
  Start();
  const HttpResponse first = Send(Req("/a.txt"));
  const std::string etag = first.Header("ETag"), modified = first.Header("Last-Modified");
  HttpResponse r = Send(Req("/a.txt", "Range: bytes=0-3\r\nIf-Range: \"something-else\"\r\n"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, kDigits);
  r = Send(Req("/a.txt", "Range: bytes=0-3\r\nIf-Range: " + etag + "\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, "0123");
  r = Send(Req("/a.txt", "Range: bytes=0-3\r\nIf-Range: " + modified + "\r\n"));
  EXPECT_EQ(r.status, 206);
  r = Send(Req("/a.txt", "Range: bytes=0-3\r\nIf-Range: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
  EXPECT_EQ(r.status, 200);
  r = Send(Req("/a.txt", "Range: bytes=0-3\r\nIf-Range: W/" + etag + "\r\n"));
  EXPECT_EQ(r.status, 200) << "a weak validator never matches If-Range";
}

// Splits a multipart/byteranges body into (Content-Range, bytes) parts.
std::vector<std::pair<std::string, std::string>> Parts(const HttpResponse& r) {
  std::vector<std::pair<std::string, std::string>> parts;
  const std::string type = r.Header("Content-Type");
  const size_t b = type.find("boundary=");
  if (b == std::string::npos) return parts;
  const std::string delim = "--" + type.substr(b + 9);
  size_t pos = r.body.find(delim);
  while (pos != std::string::npos) {
    pos += delim.size();
    if (r.body.compare(pos, 2, "--") == 0) break;
    const size_t head_end = r.body.find("\r\n\r\n", pos);
    const std::string head = r.body.substr(pos, head_end - pos);
    const size_t next = r.body.find("\r\n" + delim, head_end);
    const size_t cr = head.find("Content-Range: ");
    parts.emplace_back(head.substr(cr + 15, head.find("\r\n", cr) - cr - 15),
                       r.body.substr(head_end + 4, next - head_end - 4));
    pos = next == std::string::npos ? next : next + 2;
  }
  return parts;
}

TEST_F(HttpSemanticsTest, MultipleRangesAnswerMultipartFromCacheAndFromDisk) {
  Start({"--cache-size", "1M", "--packet-size", "256"});
  const std::string text = ReadFileOrEmpty(root_ / "r.bin");
  for (int pass = 0; pass < 2; ++pass) {  // miss, then hit
    HttpResponse r = Send(Req("/r.bin", "Range: bytes=0-1,500-501,-2\r\n"));
    ASSERT_EQ(r.status, 206);
    EXPECT_NE(r.Header("Content-Type").find("multipart/byteranges; boundary="), std::string::npos);
    EXPECT_EQ(std::to_string(r.body.size()), r.Header("Content-Length"));
    auto parts = Parts(r);
    ASSERT_EQ(parts.size(), 3u);
    EXPECT_EQ(parts[0], std::make_pair(std::string("bytes 0-1/1000"), text.substr(0, 2)));
    EXPECT_EQ(parts[1], std::make_pair(std::string("bytes 500-501/1000"), text.substr(500, 2)));
    EXPECT_EQ(parts[2], std::make_pair(std::string("bytes 998-999/1000"), text.substr(998, 2)));
    EXPECT_FALSE(r.Header("ETag").empty());
  }
  // A streamed file: ranges far apart, from disk with sendfile.
  const std::string big = ReadFileOrEmpty(root_ / "big.bin");
  HttpResponse r = Send(Req("/big.bin", "Range: bytes=100-199,2000000-2000099\r\n"));
  ASSERT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("X-Fc-Served"), "disk");
  auto parts = Parts(r);
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0].second, big.substr(100, 100));
  EXPECT_EQ(parts[1].second, big.substr(2000000, 100));
  // Overlapping ranges merge into one plain 206; HEAD gets the same length.
  r = Send(Req("/a.txt", "Range: bytes=0-5,3-9\r\n"));
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.Header("Content-Range"), "bytes 0-9/36");
  HttpResponse head = Send("HEAD /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1,5-6\r\n\r\n", true);
  EXPECT_EQ(head.status, 206);
  EXPECT_NE(head.Header("Content-Length"), "");
}

TEST_F(HttpSemanticsTest, PreconditionsAnswer412WithValidators) {
  Start();
  const HttpResponse first = Send(Req("/a.txt"));
  const std::string etag = first.Header("ETag");
  HttpResponse r = Send(Req("/a.txt", "If-Match: \"nope\"\r\n"));
  EXPECT_EQ(r.status, 412);
  EXPECT_EQ(r.Header("ETag"), etag);
  EXPECT_FALSE(r.Header("Last-Modified").empty());
  EXPECT_FALSE(r.Header("Date").empty());
  EXPECT_EQ(Send(Req("/a.txt", "If-Match: " + etag + "\r\n")).status, 200);
  EXPECT_EQ(Send(Req("/a.txt", "If-Match: *\r\n")).status, 200);
  EXPECT_EQ(Send(Req("/a.txt", "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n")).status, 412);
  EXPECT_EQ(Send(Req("/a.txt", "If-Unmodified-Since: " + first.Header("Last-Modified") + "\r\n")).status,
            200);
  // 304 keeps the validators and the date; the obsolete date forms work too.
  r = Send(Req("/a.txt", "If-Modified-Since: Sun Nov  6 08:49:37 2099\r\n"));
  EXPECT_EQ(r.status, 304);
  EXPECT_EQ(r.Header("ETag"), etag);
  EXPECT_FALSE(r.Header("Date").empty());
  EXPECT_EQ(Send(Req("/a.txt", "If-Modified-Since: Sunday, 06-Nov-94 08:49:37 GMT\r\n")).status, 200);
}

TEST_F(HttpSemanticsTest, MethodsGet501405OrOptions) {
  Start();
  for (const char* m : {"BREW", "PROPFIND", "get"}) {
    HttpResponse r = Send(std::string(m) + " /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(r.status, 501) << m;
    EXPECT_EQ(r.head.rfind("HTTP/1.1 ", 0), 0u) << m << " got a non-HTTP reply";
  }
  HttpResponse r = Send("DELETE /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.Header("Allow"), "GET, HEAD, OPTIONS");
  r = Send("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Allow"), "GET, HEAD, OPTIONS");
  r = Send("OPTIONS / HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(r.status, 200);
}

TEST_F(HttpSemanticsTest, HealthEndpointAnswers200AndThen503WhileDraining) {
  Start({"--drain-notice", "3"});
  HttpResponse r = Send(Req("/.fc/health"));
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "ok\n");
  EXPECT_EQ(Send("HEAD /.fc/health HTTP/1.1\r\nHost: x\r\n\r\n", true).status, 200);
  EXPECT_EQ(Send(Req("/.fc/other")).status, 403) << "names under /.fc/ are reserved";
  ::kill(server_->pid(), SIGTERM);
  // Within the notice: the health check fails, files are still served.
  int health = 0;
  for (int i = 0; i < 50 && health != 503; ++i) {
    health = Send(Req("/.fc/health")).status;
    if (health != 503) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(health, 503);
  EXPECT_EQ(Send(Req("/a.txt")).body, kDigits);
  EXPECT_EQ(server_->Stop(), 0);
}

TEST_F(HttpSemanticsTest, CustomHealthPath) {
  Start({"--health-path", "/healthz"});
  EXPECT_EQ(Send(Req("/healthz")).status, 200);
}

TEST_F(HttpSemanticsTest, MediaTypesFromTheSystemTableCaseInsensitively) {
  Start({"--default-type", "text/x-unknown", "--cache-control", "max-age=60"});
  EXPECT_EQ(Send(Req("/m.wasm")).Header("Content-Type"), "application/wasm");
  EXPECT_EQ(Send(Req("/M.WEBP")).Header("Content-Type"), "image/webp");
  EXPECT_EQ(Send(Req("/T.HTML")).Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(Send(Req("/f.woff2")).Header("Content-Type"), "font/woff2");
  EXPECT_EQ(Send(Req("/v.mp4")).Header("Content-Type"), "video/mp4");
  EXPECT_EQ(Send(Req("/d.xml")).Header("Content-Type"), "application/xml");
  HttpResponse r = Send(Req("/n.unknownext"));
  EXPECT_EQ(r.Header("Content-Type"), "text/x-unknown");
  EXPECT_EQ(r.Header("Cache-Control"), "max-age=60");
}

// A reply the client ends the connection with keeps its last segment for the
// FIN (event_loop.cc, ClientEndsHere): it must still arrive whole, from the
// cache, streamed from disk and as a HEAD, and the server must close after it.
TEST_F(HttpSemanticsTest, RepliesTheClientClosesWithArriveWholeThenTheServerCloses) {
  Start();
  const std::string big = ReadFileOrEmpty(root_ / "big.bin");
  ASSERT_EQ(big.size(), 3u << 20);
  Send(Req("/a.txt"));  // cached from here on
  struct Case {
    std::string request, body;
    bool head_only;
  } cases[] = {
      {Req("/a.txt", "Connection: close\r\n"), kDigits, false},
      {"GET /a.txt HTTP/1.0\r\n\r\n", kDigits, false},
      {Req("/big.bin", "Connection: close\r\n"), big, false},
      {"HEAD /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "", true},
  };
  for (const Case& c : cases) {
    RawConnection conn(server_->port());
    ASSERT_TRUE(conn.Send(c.request));
    HttpResponse r;
    ASSERT_TRUE(ReadHttpResponse(conn, &r, c.head_only)) << c.request;
    EXPECT_EQ(r.status, 200) << c.request;
    EXPECT_TRUE(r.body == c.body) << c.request << ": " << r.body.size() << " bytes, not " << c.body.size();
    EXPECT_TRUE(conn.ClosedByPeer()) << c.request;
  }
}

TEST_F(HttpSemanticsTest, ConnectionHandling) {
  Start();
  {  // "close" anywhere in the list wins
    RawConnection conn(server_->port());
    ASSERT_TRUE(conn.Send(Req("/a.txt", "Connection: close, keep-alive\r\n")));
    HttpResponse r;
    ASSERT_TRUE(ReadHttpResponse(conn, &r));
    EXPECT_EQ(r.Header("Connection"), "close");
    EXPECT_TRUE(conn.ClosedByPeer());
  }
  {  // HTTP/1.0 keep-alive is confirmed, and kept
    RawConnection conn(server_->port());
    ASSERT_TRUE(conn.Send("GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    HttpResponse r;
    ASSERT_TRUE(ReadHttpResponse(conn, &r));
    EXPECT_EQ(r.Header("Connection"), "keep-alive");
    ASSERT_TRUE(conn.Send("GET /a.txt HTTP/1.0\r\n\r\n"));
    ASSERT_TRUE(ReadHttpResponse(conn, &r));
    EXPECT_EQ(r.body, kDigits);
  }
  {  // bare LF line endings are answered at once, and a GET's body is skipped
    RawConnection conn(server_->port());
    conn.SetReceiveTimeout(2000);
    ASSERT_TRUE(conn.Send("GET /a.txt HTTP/1.1\nHost: x\nContent-Length: 5\n\nhello"
                          "GET /sub/x.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
    HttpResponse r;
    ASSERT_TRUE(ReadHttpResponse(conn, &r));
    EXPECT_EQ(r.body, kDigits);
    ASSERT_TRUE(ReadHttpResponse(conn, &r));
    EXPECT_EQ(r.body, "x\n");
  }
  // Absolute-form targets are served (RFC 9112 §3.2.2).
  EXPECT_EQ(Send("GET http://example.com/a.txt HTTP/1.1\r\nHost: example.com\r\n\r\n").body, kDigits);
}

TEST_F(HttpSemanticsTest, AliasesOfANameShareOneCacheEntry) {
  Start();
  EXPECT_EQ(Send(Req("/sub/x.txt")).status, 200);
  EXPECT_EQ(Send(Req("/./sub//x.txt")).status, 200);
  EXPECT_EQ(Send(Req("//sub/./x.txt")).status, 200);
  TempDir out;
  EXPECT_EQ(server_->Client({"get", "./sub//x.txt", out.path()}).exit_code, 0) << "fc protocol alias";
  const ToolResult list = server_->Client({"list"});
  ASSERT_EQ(list.exit_code, 0);
  size_t count = 0;
  for (size_t p = list.out.find("x.txt"); p != std::string::npos; p = list.out.find("x.txt", p + 1)) ++count;
  EXPECT_EQ(count, 1u) << list.out;
  EXPECT_NE(list.out.find("sub/x.txt"), std::string::npos) << list.out;
}

TEST_F(HttpSemanticsTest, UploadTokenSchemeIsCaseInsensitiveAndChunkedPutIsRefused) {
  Start({"--allow-upload", "--upload-token", "T0k"});
  HttpResponse r = Send("PUT /up.txt HTTP/1.1\r\nHost: x\r\nauthorization: bearer T0k\r\n"
                       "Content-Length: 3\r\n\r\nabc");
  EXPECT_EQ(r.status, 201);
  EXPECT_EQ(ReadFileOrEmpty(root_ / "up.txt"), "abc");
  r = Send("PUT /up.txt HTTP/1.1\r\nHost: x\r\nAuthorization: BEARER wrong\r\nContent-Length: 3\r\n\r\nxyz");
  EXPECT_EQ(r.status, 403);
  r = Send("PUT /up2.txt HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer T0k\r\n"
          "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  EXPECT_EQ(r.status, 411);
  EXPECT_EQ(r.Header("Connection"), "close");
  EXPECT_FALSE(FileExists(root_ / "up2.txt"));
}

}  // namespace
}  // namespace fc::testing
