// --compress on the real server (docs/web.md): a compressible file is
// compressed once, by one loader, into a copy in the shared cache that every
// worker serves to every client that accepts the coding; the copy follows its
// source; files that would not gain are served as they are. curl (Debian's,
// built with zlib, libzstd and libbrotli) is the independent decoder.
#include <gtest/gtest.h>

#include <map>

#include "harness.h"

namespace fc::testing {
namespace {

const char kCurl[] = "/usr/bin/curl";
const char* const kTokens[] = {"gzip", "zstd", "br"};

// About 100 KiB of script-like text: compressible, like real JavaScript.
std::string Script(const std::string& flavour) {
  std::string s;
  for (int i = 0; s.size() < 100 * 1024; ++i) {
    s += "function " + flavour + std::to_string(i) + "(a, b) { return a * " + std::to_string(i % 97) +
         " + b.value; }\n";
  }
  return s;
}

// The entry of `name` in a /.fc/cache JSON listing, or "".
std::string CacheEntry(const std::string& list, const std::string& name) {
  const size_t at = list.find("{\"name\":\"" + name + "\"");
  return at == std::string::npos ? std::string() : list.substr(at, list.find('}', at) - at + 1);
}

class CompressTest : public HttpServerTest {
 protected:
  void SetUp() override {
    WriteText(root_ / "app.js", Script("f"));
    WriteText(root_ / "tiny.css", "a{b:c}\n");
    WriteFile(root_ / "noise.txt", 64 * 1024, 7);  // random bytes: no coding shrinks them
    WriteText(root_ / "photo.png", Script("p"));   // compressible bytes, but not a compressible type
    WriteText(root_ / "pre.js", Script("q"));
    WriteText(root_ / "pre.js.gz", "ON-DISK-GZIP-VARIANT");
  }
  // What curl --compressed makes of the reply to `Accept-Encoding: token`.
  ToolResult CurlDecoded(const std::string& target, const std::string& token) {
    return RunTool({kCurl, "-sS", "--max-time", "10", "--compressed", "-H", "Accept-Encoding: " + token,
                    Url(target)});
  }
  std::string CacheList() { return Get("/.fc/cache").body; }
};

TEST_F(CompressTest, EachCodingIsCompressedOnceAndServedFromTheCacheToEveryWorker) {
  Start({"--compress", "gzip,zstd,br", "--workers", "2"});
  const std::string original = Script("f");
  const HttpResponse plain = Get("/app.js");
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.body, original);
  EXPECT_EQ(plain.Header("Content-Encoding"), "");
  EXPECT_EQ(plain.Header("Vary"), "Accept-Encoding");
  std::map<std::string, std::string> copies;
  for (const char* token : kTokens) {
    SCOPED_TRACE(token);
    HttpResponse r = Get("/app.js", std::string("Accept-Encoding: ") + token + "\r\n");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("Content-Encoding"), token);
    EXPECT_EQ(r.Header("Content-Type"), "text/javascript");
    EXPECT_EQ(r.Header("Vary"), "Accept-Encoding");
    EXPECT_LT(r.body.size(), original.size() / 2) << "script text compresses well";
    EXPECT_EQ(r.Header("Content-Length"), std::to_string(r.body.size()));
    EXPECT_NE(r.Header("ETag"), plain.Header("ETag"));
    EXPECT_NE(r.Header("ETag").find(std::string("-") + token + "\""), std::string::npos) << r.Header("ETag");
    copies[token] = r.body;
    // Twenty more, each on its own connection (so both workers serve some):
    // the same bytes every time, all from the cache.
    for (int i = 0; i < 20; ++i) {
      r = Get("/app.js", std::string("Accept-Encoding: ") + token + "\r\n");
      ASSERT_EQ(r.body, copies[token]);
      EXPECT_EQ(r.Header("X-Fc-Served"), "cache");
    }
    // An independent decoder gives back the file.
    const ToolResult curl = CurlDecoded("/app.js", token);
    EXPECT_EQ(curl.out, original) << curl.err;
  }
  EXPECT_NE(copies["gzip"], copies["zstd"]);
  EXPECT_NE(copies["zstd"], copies["br"]);
  // One entry per coding, made once: every later request was a hit on it
  // (the pins drop just after the last byte leaves: wait for them).
  std::string list;
  for (const char* token : kTokens) {
    const std::string name = std::string(".fc/") + token + "/app.js";
    const std::string want = "\"size\":" + std::to_string(copies[token].size()) + ",\"readers\":0,\"hits\":21,";
    EXPECT_TRUE(WaitUntil([&] { return CacheEntry(list = CacheList(), name).find(want) != std::string::npos; }, 5000))
        << name << " " << list;
  }
  // The HTML cache page shows the copies, with no link (no URL reaches them).
  const std::string html = Get("/.fc/cache", "Accept: text/html\r\n").body;
  EXPECT_NE(html.find("<td>.fc/gzip/app.js</td>"), std::string::npos) << html;
  EXPECT_EQ(html.find("href=\"/.fc/"), std::string::npos) << html;
  EXPECT_EQ(Get("/.fc/gzip/app.js").status, 403) << "the reserved names stay out of reach";
  // A copy's own validators: its ETag revalidates it, ranges count its bytes,
  // HEAD tells its length.
  const HttpResponse gz = Get("/app.js", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(Get("/app.js", "Accept-Encoding: gzip\r\nIf-None-Match: " + gz.Header("ETag") + "\r\n").status, 304);
  EXPECT_EQ(Get("/app.js", "If-None-Match: " + gz.Header("ETag") + "\r\n").status, 200)
      << "the identity is another representation";
  HttpResponse r = Get("/app.js", "Accept-Encoding: gzip\r\nRange: bytes=0-9\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, copies["gzip"].substr(0, 10));
  EXPECT_EQ(r.Header("Content-Range"), "bytes 0-9/" + std::to_string(copies["gzip"].size()));
  r = Send("HEAD /app.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n", /*head_only=*/true);
  EXPECT_EQ(r.Header("Content-Encoding"), "br");
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(copies["br"].size()));
  // q-values choose among the codings; identity and q=0 refuse them.
  EXPECT_EQ(Get("/app.js", "Accept-Encoding: gzip;q=0.5, br;q=0.9\r\n").Header("Content-Encoding"), "br");
  EXPECT_EQ(Get("/app.js", "Accept-Encoding: gzip, zstd, br\r\n").Header("Content-Encoding"), "gzip")
      << "ties go to --compress's order";
  EXPECT_EQ(Get("/app.js", "Accept-Encoding: identity\r\n").Header("Content-Encoding"), "");
  EXPECT_EQ(Get("/app.js", "Accept-Encoding: *;q=0\r\n").body, original);
}

TEST_F(CompressTest, ACopyFollowsItsSource) {
  Start({"--compress", "gzip"});
  EXPECT_EQ(CurlDecoded("/app.js", "gzip").out, Script("f"));
  const std::string etag = Get("/app.js", "Accept-Encoding: gzip\r\n").Header("ETag");
  WriteText(root_ / "app.js", Script("g"));  // a new version
  const HttpResponse r = Get("/app.js", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), "gzip");
  EXPECT_NE(r.Header("ETag"), etag);
  EXPECT_EQ(CurlDecoded("/app.js", "gzip").out, Script("g"));
}

TEST_F(CompressTest, FilesThatWouldNotGainAreServedAsTheyAre) {
  Start({"--compress", "gzip,br", "--precompressed", "gzip"});
  const std::string fields = "Accept-Encoding: gzip, br\r\n";
  // Under --compress-min-size (1024 by default).
  HttpResponse r = Get("/tiny.css", fields);
  EXPECT_EQ(r.Header("Content-Encoding"), "");
  EXPECT_EQ(r.body, "a{b:c}\n");
  // Not a compressible type.
  r = Get("/photo.png", fields);
  EXPECT_EQ(r.Header("Content-Encoding"), "");
  EXPECT_EQ(r.body, Script("p"));
  // Random bytes: the copy would not be smaller, so an empty marker says so
  // to every worker and the file itself is sent, now and later.
  for (int i = 0; i < 3; ++i) {
    r = Get("/noise.txt", fields);
    EXPECT_EQ(r.Header("Content-Encoding"), "");
    EXPECT_EQ(r.body, ReadFileOrEmpty(root_ / "noise.txt"));
  }
  EXPECT_NE(CacheEntry(CacheList(), ".fc/gzip/noise.txt").find("\"size\":0,"), std::string::npos) << CacheList();
  // A precompressed variant on disk comes first.
  r = Get("/pre.js", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), "gzip");
  EXPECT_EQ(r.body, "ON-DISK-GZIP-VARIANT");
  // A lower minimum lets the small file be compressed, if that pays (it does not here).
  server_.reset();
  Start({"--compress", "gzip", "--compress-min-size", "1"});
  r = Get("/tiny.css", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), "") << "7 bytes never shrink under gzip's 18-byte wrapper";
  EXPECT_EQ(r.body, "a{b:c}\n");
}

TEST_F(CompressTest, OffByDefaultAndBadListsAreRefused) {
  Start({});
  const HttpResponse r = Get("/app.js", "Accept-Encoding: gzip, br, zstd\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), "");
  EXPECT_EQ(r.Header("Vary"), "");
  server_.reset();
  const ToolResult bad = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--compress", "gzip,lzma"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--compress: \"lzma\""), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace fc::testing
