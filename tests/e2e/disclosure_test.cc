// What the server discloses, from the outside review (docs/security.md):
// hidden (dot-segment) names in listings and on /.fc/cache, who may read
// /.fc/cache, names that would pass for others in a listing, a precompressed
// variant that cannot be read, the root's aliases and error bodies that a
// browser must not sniff. Each test fails on the build before its fix.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "harness.h"

namespace fc::testing {
namespace {

class DisclosureTest : public HttpServerTest {
 protected:
  void SetUp() override {
    WriteText(root_ / "index.html", "<h1>home</h1>\n");
    for (const char* dir : {".git", ".git/objects", ".well-known", ".well-known/acme-challenge", "a", ".share"}) {
      ASSERT_EQ(::mkdir((root_ / dir).c_str(), 0755), 0) << dir;
    }
    WriteText(root_ / ".git/HEAD", "ref: refs/heads/main\n");
    WriteText(root_ / ".git/config", "[core]\n");
    WriteText(root_ / ".well-known/acme-challenge/tok", "token\n");
    WriteText(root_ / ".env", "SECRET=1\n");
    WriteText(root_ / ".share/link.txt", "unguessable\n");
    WriteText(root_ / "a/.env", "SECRET=2\n");
    WriteText(root_ / "a/seen.txt", "seen\n");
  }
  // Fetches `targets` once each, so that they are cached.
  void Warm(const std::vector<std::string>& targets) {
    for (const std::string& t : targets) ASSERT_EQ(Get(t).status, 200) << t;
  }
};

TEST_F(DisclosureTest, DirectoriesUnderADotSegmentAreNeverListed) {
  Start({"--autoindex", "json"});
  for (const char* dir : {"/.git/", "/.git/objects/", "/.well-known/", "/.share/", "/.git/./"}) {
    const HttpResponse r = Get(dir);
    EXPECT_EQ(r.status, 404) << dir << "\n" << r.body;
    EXPECT_EQ(r.body.find("HEAD"), std::string::npos) << dir;
    EXPECT_EQ(r.body.find("config"), std::string::npos) << dir;
  }
  const HttpResponse a = Get("/a/");
  EXPECT_EQ(a.status, 200);
  EXPECT_NE(a.body.find("seen.txt"), std::string::npos) << a.body;
  EXPECT_EQ(a.body.find(".env"), std::string::npos) << a.body;
  // The default serves a dotfile asked for by name, as nginx does (and
  // .well-known must be served for ACME).
  EXPECT_EQ(Get("/.git/HEAD").status, 200);
  EXPECT_EQ(Get("/.well-known/acme-challenge/tok").body, "token\n");
}

TEST_F(DisclosureTest, DotfilesDenyRefusesHiddenNamesButWellKnown) {
  Start({"--dotfiles", "deny", "--autoindex", "html"});
  for (const char* target : {"/.git/HEAD", "/.env", "/a/.env", "/.share/link.txt", "/a/%2eenv", "/.git/"}) {
    const HttpResponse r = Get(target);
    EXPECT_EQ(r.status, 404) << target;
    EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << target;
  }
  EXPECT_EQ(Get("/.well-known/acme-challenge/tok").status, 200);
  EXPECT_EQ(Get("/a/seen.txt").status, 200);
  // The fc protocol is refused the same way.
  TempDir out;
  ToolResult got = server_->Client({"get", ".env", out.path()});
  EXPECT_EQ(got.exit_code, 1) << got.out << got.err;
  EXPECT_FALSE(FileExists(out / ".env"));
  // And the option is checked.
  const ToolResult bad = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--dotfiles", "maybe"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--dotfiles takes allow or deny"), std::string::npos) << bad.err;
}

TEST_F(DisclosureTest, TheCachePageNeverNamesHiddenFiles) {
  Start({});
  Warm({"/.env", "/.share/link.txt", "/a/.env", "/a/seen.txt", "/.git/config"});
  HttpResponse r = Get("/.fc/cache");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"a/seen.txt\""), std::string::npos) << r.body;
  for (const char* hidden : {".env", "link.txt", ".git"}) {
    EXPECT_EQ(r.body.find(hidden), std::string::npos) << hidden << " in\n" << r.body;
  }
  EXPECT_EQ(JsonNumber(r.body, "entries"), 1u);
  EXPECT_EQ(JsonNumber(r.body, "hidden"), 4u);
  r = Get("/.fc/cache", "Accept: text/html\r\n");
  EXPECT_EQ(r.body.find(".env"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("4 not shown"), std::string::npos) << r.body;
}

TEST_F(DisclosureTest, TheCachePageAnswersOnlyListFromAddresses) {
  Start({"--list-from", "10.0.0.0/8"});
  Warm({"/a/seen.txt"});
  HttpResponse r = Get("/.fc/cache");
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("--list-from"), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("seen.txt"), std::string::npos);
  // fc's own LIST (the seeds' list) is not limited by it.
  ToolResult list = server_->Client({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.out.find("a/seen.txt"), std::string::npos) << list.out;
  server_.reset();
  Start({});  // the default: loopback
  EXPECT_EQ(Get("/.fc/cache").status, 200);
  const ToolResult bad = RunTool({MasterBin(), "--root", root_.path(), "--port", "0", "--list-from", "10.0.0.0/40"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--list-from: \"10.0.0.0/40\""), std::string::npos) << bad.err;
}

TEST_F(DisclosureTest, AcceptQValuesChooseHtmlOrJson) {
  Start({});
  const auto type = [this](const std::string& accept) {
    return Get("/.fc/cache", accept.empty() ? "" : "Accept: " + accept + "\r\n").Header("Content-Type");
  };
  const std::string html = "text/html; charset=utf-8", json = "application/json";
  EXPECT_EQ(type("text/html;q=0, application/json"), json);
  EXPECT_EQ(type("application/json;q=0.5, text/html;q=0.9"), html);
  EXPECT_EQ(type("text/html, application/json;q=0.9"), html);
  EXPECT_EQ(type("text/*;q=0.8, */*;q=0.1"), html);
  EXPECT_EQ(type("*/*"), json) << "a tie keeps JSON, for curl";
  EXPECT_EQ(type(""), json);
  EXPECT_EQ(type("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), html) << "a browser";
}

TEST_F(DisclosureTest, ListingNamesShowBidiControlsAndBytesThatAreNotUtf8) {
  WriteText(root_ / "a/invoice\xE2\x80\xAE" "fdp.exe", "x");
  WriteText(root_ / "a/bad\xff", "1");
  WriteText(root_ / "a/bad\xfe", "2");
  Start({"--autoindex", "html"});
  HttpResponse r = Get("/a/");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("\xE2\x80\xAE"), std::string::npos) << "no raw U+202E in the page";
  EXPECT_NE(r.body.find("invoice\\u202Efdp.exe"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("bad\\xFF"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("(not UTF-8)"), std::string::npos);
  EXPECT_EQ(r.body.find("bad\xff"), std::string::npos);
  // The links still lead to the files' bytes.
  EXPECT_EQ(Get("/a/bad%FF").body, "1");
  server_.reset();
  Start({"--autoindex", "json"});
  r = Get("/a/");
  EXPECT_NE(r.body.find("\"name_hex\":\"626164ff\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\"name_hex\":\"626164fe\""), std::string::npos) << r.body;
  EXPECT_EQ(JsonValues(r.body, "name_hex").size(), 2u) << "only names that are not UTF-8 carry it";
}

TEST_F(DisclosureTest, AnUnreadablePrecompressedVariantFallsBackWithoutNamingIt) {
  WriteText(root_ / "x.js", "plain();\n");
  WriteText(root_ / "x.js.br", "BROTLI");
  WriteText(root_ / "x.js.gz", "GZIP");
  // As root the test's server keeps root (harness), which reads anything: run
  // this one as nobody over a tree others may read, but for the variant.
  ASSERT_EQ(::chmod(root_.path().c_str(), 0755), 0);
  for (const char* name : {"x.js", "x.js.br"}) ASSERT_EQ(::chmod((root_ / name).c_str(), 0644), 0);
  ASSERT_EQ(::chmod((root_ / "x.js.gz").c_str(), 0), 0);
  std::vector<std::string> args = {"--precompressed", "gzip,br"};
  if (::geteuid() == 0) args.insert(args.end(), {"--user", "nobody"});
  Start(args);
  HttpResponse r = Get("/x.js", "Accept-Encoding: gzip\r\n");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.Header("Content-Encoding"), "");
  EXPECT_EQ(r.body, "plain();\n");
  EXPECT_EQ(r.body.find("x.js.gz"), std::string::npos);
  r = Get("/x.js", "Accept-Encoding: gzip, br;q=0.5\r\n");
  EXPECT_EQ(r.Header("Content-Encoding"), "br") << "the next coding the client accepts";
  EXPECT_EQ(r.body, "BROTLI");
}

TEST_F(DisclosureTest, TheRootsAliasesServeItsIndex) {
  Start({});
  for (const char* target : {"/", "/./", "/%2e/", "/.//", "//./"}) {
    const HttpResponse r = Get(target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    EXPECT_EQ(r.body, "<h1>home</h1>\n") << target;
  }
}

TEST_F(DisclosureTest, BodiesMadeByTheServerAreNotSniffed) {
  Start({"--autoindex", "html"});
  for (const char* target : {"/%3Cscript%3Ealert(1)%3C/script%3E", "/a/", "/.fc/cache", "/.fc/health"}) {
    const HttpResponse r = Get(target);
    EXPECT_EQ(r.Header("X-Content-Type-Options"), "nosniff") << target;
  }
  // The health endpoint says no-store on a connection's first reply too.
  EXPECT_EQ(Get("/.fc/health").Header("Cache-Control"), "no-store");
}

}  // namespace
}  // namespace fc::testing
