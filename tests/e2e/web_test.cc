// What a browser user sees (docs/web.md), on the real server: index files,
// the 301 of a directory without its slash, HTML and JSON listings and their
// confinement, precompressed variants and their negotiation, and /.fc/cache.
// curl (Debian's) follows the listing's links and decodes a gzip variant.
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "harness.h"

namespace fc::testing {
namespace {

const char kCurl[] = "/usr/bin/curl";

// The names a listing must show exactly, however they are spelt.
const std::vector<std::string> kAwkwardNames = {"a b.txt", "x<y.txt", "q\"uote.txt", "amp&er.txt",
                                                "100%.txt", "plus+semi;colon:.txt"};

void SetMtime(const std::string& path, time_t seconds) {
  const timeval times[2] = {{seconds, 0}, {seconds, 0}};
  ASSERT_EQ(::utimes(path.c_str(), times), 0) << path;
}

class WebTest : public HttpServerTest {
 protected:
  void SetUp() override {
    WriteText(root_ / "index.html", "<h1>home</h1>\n");
    ::mkdir((root_ / "docs").c_str(), 0755);
    ::mkdir((root_ / "docs/sub").c_str(), 0755);
    ::mkdir((root_ / "empty").c_str(), 0755);
    ::mkdir((root_ / ".fc").c_str(), 0755);
    WriteText(root_ / "docs/a.txt", "alpha\n");
    WriteText(root_ / "docs/.hidden", "secret\n");
    for (size_t i = 0; i < kAwkwardNames.size(); ++i) {
      WriteText(root_ / ("docs/" + kAwkwardNames[i]), "bytes of " + std::to_string(i) + "\n");
    }
    ASSERT_EQ(::symlink("/etc/passwd", (root_ / "docs/out").c_str()), 0);
    ASSERT_EQ(::symlink("/etc", (root_ / "docs/outdir").c_str()), 0);
    ASSERT_EQ(::symlink("../index.html", (root_ / "docs/in.html").c_str()), 0);
    ASSERT_EQ(::mkfifo((root_ / "docs/fifo").c_str(), 0644), 0);
    // A stylesheet with a variant for each coding (the bytes need not be
    // real compressed data, except the .gz that curl decodes).
    WriteText(root_ / "s.css", "body { color: red; }\n");
    ASSERT_EQ(RunTool({"/bin/sh", "-c", "gzip -9 -k -n " + root_ / "s.css"}).exit_code, 0);
    WriteText(root_ / "s.css.br", "BROTLI-BYTES-0123456789");
    WriteText(root_ / "s.css.zst", "ZSTD-BYTES-0123456789");
    for (const char* name : {"s.css", "s.css.gz", "s.css.br", "s.css.zst"}) SetMtime(root_ / name, 1'700'000'000);
    WriteText(root_ / "stale.js", "new();\n");
    WriteText(root_ / "stale.js.gz", "OLD-GZIP");
    SetMtime(root_ / "stale.js", 1'700'000'100);
    SetMtime(root_ / "stale.js.gz", 1'700'000'000);
  }
};

TEST_F(WebTest, TheRootServesItsIndexAndADirectoryWithoutItsSlashIsRedirected) {
  Start({});
  HttpResponse r = Get("/");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "<h1>home</h1>\n");
  EXPECT_EQ(r.Header("Content-Type"), "text/html; charset=utf-8");
  r = Get("/docs?x=1&y=%20");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.Header("Location"), "/docs/?x=1&y=%20") << "the query is kept";
  r = Get("/docs/sub");
  EXPECT_EQ(r.status, 301);
  EXPECT_EQ(r.Header("Location"), "/docs/sub/");
  r = Get("//docs");
  EXPECT_EQ(r.Header("Location"), "/docs/");
  r = Get("/docs/");
  EXPECT_EQ(r.status, 403) << "listings are off by default";
  EXPECT_NE(r.body.find("--autoindex"), std::string::npos) << r.body;
  EXPECT_EQ(Get("/nowhere/").status, 404);
  EXPECT_EQ(Get("/docs/a.txt/").status, 404) << "a file's name with a slash is no directory";
  EXPECT_EQ(Get("/.fc/").status, 403) << "the reserved directory";
  EXPECT_EQ(Get("/docs/outdir").status, 403) << "a symlink out is refused, never redirected";
  EXPECT_EQ(Get("/docs/outdir/").status, 403);
  // HEAD of an index, and of a redirect.
  r = Send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", /*head_only=*/true);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Length"), "14");
  EXPECT_TRUE(r.body.empty());
}

TEST_F(WebTest, IndexNamesAreTriedInOrderAndAnEmptyListTurnsThemOff) {
  WriteText(root_ / "docs/home.htm", "home.htm\n");
  WriteText(root_ / "docs/index.html", "index.html\n");
  Start({"--index", "home.htm,index.html"});
  EXPECT_EQ(Get("/docs/").body, "home.htm\n");
  EXPECT_EQ(Get("/").body, "<h1>home</h1>\n");
  server_.reset();
  Start({"--index", ""});
  EXPECT_EQ(Get("/").status, 403);
  EXPECT_EQ(Get("/index.html").status, 200);
  const ToolResult bad = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--index", "a/b"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--index: \"a/b\""), std::string::npos) << bad.err;
  const ToolResult typo = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--autoindex", "yes"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("--autoindex takes off, html or json"), std::string::npos) << typo.err;
  const ToolResult coding = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--precompressed", "gzip,deflate"});
  EXPECT_EQ(coding.exit_code, 2);
  EXPECT_NE(coding.err.find("\"deflate\" is not one of br, zstd, gzip"), std::string::npos) << coding.err;
}

TEST_F(WebTest, AnHtmlListingEscapesNamesAndCurlFollowsEveryLinkToTheRightBytes) {
  Start({"--autoindex", "html"});
  const ToolResult page = RunTool({kCurl, "-sS", "--max-time", "10", Url("/docs/")});
  ASSERT_EQ(page.exit_code, 0) << page.err;
  const std::string& html = page.out;
  EXPECT_NE(html.find("<title>Index of /docs/</title>"), std::string::npos);
  EXPECT_EQ(html.find("<script"), std::string::npos) << "no JavaScript";
  EXPECT_EQ(html.find("src="), std::string::npos) << "no external assets";
  EXPECT_NE(html.find("x&lt;y.txt"), std::string::npos) << html;
  EXPECT_NE(html.find("q&quot;uote.txt"), std::string::npos);
  EXPECT_NE(html.find("amp&amp;er.txt"), std::string::npos);
  EXPECT_EQ(html.find("x<y"), std::string::npos) << "a raw '<' from a name";
  EXPECT_EQ(html.find("hidden"), std::string::npos) << "dotfiles are not listed";
  EXPECT_EQ(html.find("\"out\""), std::string::npos) << "a symlink out of the root is not listed";
  EXPECT_EQ(html.find("outdir"), std::string::npos);
  EXPECT_EQ(html.find("fifo"), std::string::npos) << "only files and directories";
  EXPECT_NE(html.find("href=\"in.html\""), std::string::npos) << "a symlink inside is listed";
  EXPECT_NE(html.find("href=\"sub/\""), std::string::npos);
  // Every link, resolved and fetched by curl, gives the file's own bytes.
  size_t followed = 0;
  for (size_t i = 0; i < kAwkwardNames.size(); ++i) {
    const std::string& name = kAwkwardNames[i];
    std::string href;
    for (size_t pos = html.find("<a href=\""); pos != std::string::npos; pos = html.find("<a href=\"", pos + 1)) {
      const size_t start = pos + 9, end = html.find('"', start);
      const std::string link = html.substr(start, end - start);
      const size_t text_start = html.find('>', end) + 1;
      const std::string text = html.substr(text_start, html.find("</a>", text_start) - text_start);
      std::string unescaped;
      for (size_t k = 0; k < text.size(); ++k) {  // the visible text, entities decoded
        if (text[k] != '&') { unescaped += text[k]; continue; }
        const size_t semi = text.find(';', k);
        const std::string entity = text.substr(k, semi - k + 1);
        unescaped += entity == "&lt;" ? "<" : entity == "&gt;" ? ">" : entity == "&amp;" ? "&"
                   : entity == "&quot;" ? "\"" : "'";
        k = semi;
      }
      if (unescaped == name) href = link;
    }
    ASSERT_FALSE(href.empty()) << "no link for " << name;
    EXPECT_EQ(href.find_first_of(" <>\"&"), std::string::npos) << href;
    const ToolResult file = RunTool({kCurl, "-sS", "--max-time", "10", Url("/docs/" + href)});
    EXPECT_EQ(file.out, "bytes of " + std::to_string(i) + "\n") << name << " via " << href;
    ++followed;
  }
  EXPECT_EQ(followed, kAwkwardNames.size());
  // Sorting by size, descending, through the column links' query.
  const HttpResponse sorted = Get("/docs/?sort=size&order=desc");
  EXPECT_EQ(sorted.status, 200);
  EXPECT_LT(sorted.body.find("sub/"), sorted.body.find("in.html")) << "directories first";
  EXPECT_LT(sorted.body.find("href=\"in.html\""), sorted.body.find("href=\"a%20b.txt\""))
      << "14 bytes (the symlink's target) before 11";
  EXPECT_LT(sorted.body.find("href=\"a%20b.txt\""), sorted.body.find("href=\"a.txt\""))
      << "11 bytes before 6";
}

TEST_F(WebTest, AJsonListingFollowsItsSchemaAndPaginatesTenThousandEntries) {
  ::mkdir((root_ / "many").c_str(), 0755);
  for (int i = 0; i < 10'000; ++i) WriteText(root_ / ("many/f" + std::to_string(i)), "");
  Start({"--autoindex", "json"});
  HttpResponse r = Get("/docs/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(JsonValues(r.body, "path"), std::vector<std::string>{"/docs/"});
  const std::vector<std::string> hrefs = JsonValues(r.body, "href");
  const std::set<std::string> got(hrefs.begin(), hrefs.end());
  EXPECT_TRUE(got.count("a%20b.txt") && got.count("x%3Cy.txt") && got.count("100%25.txt") &&
              got.count("sub/") && got.count("in.html"))
      << r.body;
  EXPECT_FALSE(got.count("out") || got.count("outdir") || got.count(".hidden") || got.count("fifo"));
  EXPECT_EQ(JsonNumber(r.body, "total"), kAwkwardNames.size() + 3);
  // The root hides the reserved directory.
  EXPECT_EQ(Get("/").status, 200) << "index.html still wins over a listing";
  std::remove((root_ / "index.html").c_str());
  r = Get("/");
  EXPECT_EQ(r.body.find(".fc"), std::string::npos) << r.body;
  // 10,000 names: pages of 1,000, every name exactly once, bounded in time.
  std::set<std::string> names;
  const auto started = std::chrono::steady_clock::now();
  for (int page = 1; page <= 10; ++page) {
    r = Get("/many/?page=" + std::to_string(page));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(JsonNumber(r.body, "pages"), 10u);
    EXPECT_EQ(JsonNumber(r.body, "total"), 10'000u);
    for (const std::string& n : JsonValues(r.body, "name")) EXPECT_TRUE(names.insert(n).second) << n;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(names.size(), 10'000u);
  EXPECT_LT(seconds, 20.0) << "ten pages of a 10,000-entry directory";
  EXPECT_NE(r.body.find("\"next\":null"), std::string::npos);
  r = Get("/many/?page=99");
  EXPECT_EQ(JsonNumber(r.body, "page"), 10u) << "a page past the end is the last one";
}

// One coding's variant: chosen by q-values, refused, absent, on HEAD; its own
// ETag, Vary, ranges over the encoded bytes.
void CheckVariant(WebTest* t, const std::string& token, const std::string& bytes,
                  const std::function<HttpResponse(const std::string&, const std::string&)>& get,
                  const std::function<HttpResponse(const std::string&)>& send) {
  SCOPED_TRACE(token);
  const HttpResponse plain = get("/s.css", "");
  ASSERT_EQ(plain.status, 200);
  EXPECT_EQ(plain.Header("Content-Encoding"), "") << "no Accept-Encoding: identity";
  EXPECT_EQ(plain.Header("Vary"), "Accept-Encoding");
  HttpResponse r = get("/s.css", "Accept-Encoding: " + token + "\r\n");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Encoding"), token);
  EXPECT_EQ(r.Header("Content-Type"), "text/css") << "the type of the original";
  EXPECT_EQ(r.Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(r.body, bytes);
  EXPECT_NE(r.Header("ETag"), plain.Header("ETag")) << "a variant has its own strong ETag";
  EXPECT_EQ(r.Header("ETag").substr(0, 1), "\"");
  // The variant's ETag revalidates the variant.
  HttpResponse again = get("/s.css", "Accept-Encoding: " + token + "\r\nIf-None-Match: " + r.Header("ETag") + "\r\n");
  EXPECT_EQ(again.status, 304);
  EXPECT_EQ(again.Header("Vary"), "Accept-Encoding");
  EXPECT_EQ(get("/s.css", "If-None-Match: " + r.Header("ETag") + "\r\n").status, 200)
      << "the identity is another representation";
  // q-values, identity, *;q=0.
  EXPECT_EQ(get("/s.css", "Accept-Encoding: " + token + ";q=0\r\n").Header("Content-Encoding"), "");
  EXPECT_EQ(get("/s.css", "Accept-Encoding: identity\r\n").Header("Content-Encoding"), "");
  EXPECT_EQ(get("/s.css", "Accept-Encoding: *;q=0, " + token + ";q=0.3\r\n").Header("Content-Encoding"), token);
  r = get("/s.css", "Accept-Encoding: *;q=0\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), "") << "nothing acceptable: the identity is sent";
  EXPECT_EQ(r.body, "body { color: red; }\n");
  // A range applies to the encoded bytes.
  r = get("/s.css", "Accept-Encoding: " + token + "\r\nRange: bytes=2-5\r\n");
  EXPECT_EQ(r.status, 206);
  EXPECT_EQ(r.body, bytes.substr(2, 4));
  EXPECT_EQ(r.Header("Content-Range"), "bytes 2-5/" + std::to_string(bytes.size()));
  EXPECT_EQ(r.Header("Content-Encoding"), token);
  // HEAD negotiates the same way.
  r = send("HEAD /s.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: " + token + "\r\n\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), token);
  EXPECT_EQ(r.Header("Content-Length"), std::to_string(bytes.size()));
  (void)t;
}

TEST_F(WebTest, PrecompressedVariantsAreNegotiatedForEachEncoding) {
  Start({"--precompressed", "br,zstd,gzip"});
  auto get = [this](const std::string& target, const std::string& fields) { return Get(target, fields); };
  auto send = [this](const std::string& request) { return Send(request, /*head_only=*/true); };
  CheckVariant(this, "br", "BROTLI-BYTES-0123456789", get, send);
  CheckVariant(this, "zstd", "ZSTD-BYTES-0123456789", get, send);
  CheckVariant(this, "gzip", ReadFileOrEmpty(root_ / "s.css.gz"), get, send);
  // The server's order breaks q ties; the client's q-values win.
  EXPECT_EQ(Get("/s.css", "Accept-Encoding: gzip, deflate, br, zstd\r\n").Header("Content-Encoding"), "br");
  EXPECT_EQ(Get("/s.css", "Accept-Encoding: gzip;q=0.9, br;q=0.5\r\n").Header("Content-Encoding"), "gzip");
  // A variant older than its file is never sent; a missing one falls back.
  HttpResponse r = Get("/stale.js", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), "");
  EXPECT_EQ(r.body, "new();\n");
  EXPECT_EQ(Get("/index.html", "Accept-Encoding: gzip, br\r\n").Header("Content-Encoding"), "");
  // Each variant is its own cache entry.
  const HttpResponse list = Get("/.fc/cache");
  for (const char* name : {"s.css", "s.css.br", "s.css.zst", "s.css.gz"}) {
    EXPECT_NE(list.body.find(std::string("\"") + name + "\""), std::string::npos) << name << list.body;
  }
  // curl --compressed decodes the gzip variant to the file's bytes.
  const ToolResult curl = RunTool({kCurl, "-sS", "--max-time", "10", "-H", "Accept-Encoding: gzip",
                                   "--compressed", Url("/s.css")});
  EXPECT_EQ(curl.out, "body { color: red; }\n") << curl.err;
}

TEST_F(WebTest, VariantsAreOffByDefault) {
  Start({});
  const HttpResponse r = Get("/s.css", "Accept-Encoding: gzip, br, zstd\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), "");
  EXPECT_EQ(r.Header("Vary"), "");
  EXPECT_EQ(r.body, "body { color: red; }\n");
}

TEST_F(WebTest, TheCacheListIsServedAsJsonAndAsAnHtmlTable) {
  WriteText(root_ / "x<&>.txt", "odd\n");
  Start({});
  Get("/docs/a.txt");
  Get("/docs/a.txt");
  Get("/x%3C%26%3E.txt");
  // The worker drops its pin just after the last byte leaves, which can be a
  // moment after the client has read it: wait for the count to fall.
  const std::string idle = "{\"name\":\"docs/a.txt\",\"size\":6,\"readers\":0,\"hits\":1,\"age_s\":";
  HttpResponse r;
  for (auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);;) {
    r = Get("/.fc/cache");
    if (r.body.find(idle) != std::string::npos || std::chrono::steady_clock::now() > until) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.Header("Content-Type"), "application/json");
  EXPECT_EQ(r.Header("Cache-Control"), "no-store");
  EXPECT_NE(r.body.find(idle), std::string::npos) << r.body;
  EXPECT_EQ(JsonNumber(r.body, "entries"), 2u);
  EXPECT_GT(JsonNumber(r.body, "capacity_bytes"), 0u);
  EXPECT_GE(JsonNumber(r.body, "used_bytes"), 7u);
  r = Get("/.fc/cache", "Accept: text/html,application/xhtml+xml,*/*;q=0.8\r\n");
  EXPECT_EQ(r.Header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(r.body.find("<table>"), std::string::npos);
  EXPECT_NE(r.body.find("id=\"hit-ratio\""), std::string::npos);
  EXPECT_NE(r.body.find("<meter id=\"fill\""), std::string::npos);
  EXPECT_NE(r.body.find("x&lt;&amp;&gt;.txt"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("x<&>"), std::string::npos);
  EXPECT_EQ(Get("/.fc/cache?format=json", "Accept: text/html\r\n").Header("Content-Type"), "application/json");
  server_.reset();
  Start({"--list", "off"});
  r = Get("/.fc/cache");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("--list off"), std::string::npos);
}

}  // namespace
}  // namespace fc::testing
