// Request smuggling, end to end: every framing ambiguity of RFC 9112 sent to
// fc directly and through real proxies (HAProxy, and nginx with upstream
// keep-alive) started on loopback. A request hidden in a body must never be
// answered, every request gets at most one response, no response reaches
// another client, and a path the proxy denies is never served.
#include <sys/stat.h>

#include <gtest/gtest.h>

#include "harness.h"
#include "proxy.h"

namespace fc::testing {
namespace {

const char kPublic[] = "public bytes\n";
const char kSecret[] = "SECRET-MARKER: this must never be served through a smuggled request\n";

// A request for the denied file, to hide in a body.
std::string Hidden() {
  return "GET /private/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n";
}

struct Case {
  const char* name;
  std::string bytes;    // the attacking request, hidden request included
  int direct_status;    // what fc itself answers first
  bool direct_closes;   // and whether it then closes
};

std::vector<Case> Cases() {
  const std::string hidden = Hidden();
  const std::string n = std::to_string(hidden.size());
  const std::string put_body = "PUT /planted.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  return {
      {"get_with_body", "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: " + n + "\r\n\r\n" + hidden,
       200, false},
      {"put_hidden_in_get_body",
       "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(put_body.size()) +
           "\r\n\r\n" + put_body,
       200, false},
      {"conflicting_content_length",
       "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: " + n + "\r\n\r\n" + hidden,
       400, true},
      {"duplicate_content_length",
       "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: " + n + "\r\nContent-Length: " + n +
           "\r\n\r\n" + hidden,
       400, true},
      {"content_length_list", "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: " + n + ", " + n +
                                  "\r\n\r\n" + hidden,
       400, true},
      {"content_length_and_chunked",
       "PUT /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: " + n +
           "\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden,
       400, true},
      {"chunked_get", "GET /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + hidden,
       400, true},
      {"unknown_transfer_coding",
       "PUT /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n" + hidden, 400, true},
      {"obfuscated_chunked",
       "PUT /a.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n" + hidden, 400, true},
      {"chunked_put", "PUT /up.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          std::string("0\r\n\r\n") + hidden,
       411, true},
      {"obs_fold", "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: a\r\n Content-Length: " + n + "\r\n\r\n" + hidden,
       400, true},
      {"space_before_colon",
       "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length : " + n + "\r\n\r\n" + hidden, 400, true},
      {"ctl_in_value", "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: a\x01z\r\n\r\n" + hidden, 400, true},
      {"nul_in_value",
       "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: a" + std::string(1, '\0') + "z\r\n\r\n" + hidden, 400,
       true},
      {"bare_cr_in_value",
       "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Pad: a\rContent-Length: " + n + "\r\n\r\n" + hidden, 400, true},
      {"two_hosts", "GET /a.txt HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n" + hidden, 400, true},
      {"body_over_the_skip_limit",
       "GET /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + hidden, 413, true},
  };
}

class SmugglingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteText(root_ / "a.txt", kPublic);
    ::mkdir((root_ / "private").c_str(), 0755);
    WriteText(root_ / "private/secret.txt", kSecret);
    server_ = std::make_unique<Server>(root_.path(), std::vector<std::string>{"--allow-upload"});
    ASSERT_TRUE(server_->started());
  }

  // Sends one case and a follow-up request on one connection to `port`;
  // checks what no proxy setup may ever produce. Returns the responses.
  std::vector<HttpResponse> Attack(uint16_t port, const Case& c, bool* closed) {
    RawConnection conn(port);
    EXPECT_TRUE(conn.connected());
    conn.Send(c.bytes);
    conn.Send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    auto responses = ReadHttpResponses(conn, 4, 700, closed);
    // At most one response per request line sent: the attack, the hidden one
    // (a proxy that reads a body's end differently sees it as a request of its
    // own, and its deny rule answers it), and the follow-up.
    EXPECT_LE(responses.size(), 3u) << c.name;
    for (const auto& r : responses) {
      EXPECT_EQ(r.head.find("SECRET"), std::string::npos) << c.name;
      EXPECT_EQ(r.body.find("SECRET"), std::string::npos) << c.name << ": a hidden request was answered";
      if (r.status == 200) {
        EXPECT_EQ(r.body, kPublic) << c.name;
      }
    }
    EXPECT_FALSE(FileExists(root_ / "planted.txt")) << c.name << ": a PUT hidden in a body was stored";
    return responses;
  }

  // Another client, after the attack: each of its requests gets its own reply.
  void Victim(uint16_t port, const char* after) {
    RawConnection conn(port);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(conn.Send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
      HttpResponse r;
      ASSERT_TRUE(ReadHttpResponse(conn, &r)) << "after " << after;
      EXPECT_EQ(r.status, 200) << "after " << after;
      EXPECT_EQ(r.body, kPublic) << "a victim got another response after " << after;
    }
  }

  void ThroughProxy(Proxy::Kind kind) {
    Proxy proxy(kind, server_->port());
    if (!proxy.problem().empty()) GTEST_SKIP() << proxy.problem();
    // The proxy's deny rule works on plain requests.
    {
      RawConnection conn(proxy.port());
      ASSERT_TRUE(conn.Send("GET /private/secret.txt HTTP/1.1\r\nHost: x\r\n\r\n"));
      HttpResponse r;
      ASSERT_TRUE(ReadHttpResponse(conn, &r));
      EXPECT_EQ(r.status, 403);
    }
    for (const Case& c : Cases()) {
      bool closed = false;
      auto responses = Attack(proxy.port(), c, &closed);
      // (A proxy may wait for a declared body the attacker never sends.)
      if (c.direct_status != 413) {
        EXPECT_GE(responses.size(), 1u) << Proxy::Name(kind) << " " << c.name << ": no answer at all";
      }
      Victim(proxy.port(), c.name);
    }
  }

  TempDir root_;
  std::unique_ptr<Server> server_;
};

TEST_F(SmugglingTest, DirectlyEveryCaseIsAnsweredOnceAndTheHiddenRequestNever) {
  for (const Case& c : Cases()) {
    bool closed = false;
    auto responses = Attack(server_->port(), c, &closed);
    ASSERT_GE(responses.size(), 1u) << c.name;
    EXPECT_EQ(responses[0].status, c.direct_status) << c.name;
    if (c.direct_closes) {
      EXPECT_EQ(responses.size(), 1u) << c.name << ": answered after a framing error";
      EXPECT_TRUE(closed) << c.name << ": connection left open after a framing error";
      EXPECT_EQ(responses[0].Header("Connection"), "close") << c.name;
    } else {
      ASSERT_EQ(responses.size(), 2u) << c.name << ": the follow-up was not answered";
      EXPECT_EQ(responses[1].body, kPublic) << c.name;
    }
    Victim(server_->port(), c.name);
  }
  // A chunked PUT is refused before its body: nothing was stored.
  EXPECT_FALSE(FileExists(root_ / "up.txt"));
}

TEST_F(SmugglingTest, ThroughHaproxy) { ThroughProxy(Proxy::Kind::kHaproxy); }

TEST_F(SmugglingTest, ThroughNginxWithUpstreamKeepAlive) { ThroughProxy(Proxy::Kind::kNginx); }

}  // namespace
}  // namespace fc::testing
