// PROTOCOL.md's promises, one test per row of its tables: which replies close
// the connection, the name limits, error replies' header fields, fields that
// must be zero, canonical names, no internal paths in replies, and early
// refusals of a PUT before its body.
#include <sys/stat.h>

#include <gtest/gtest.h>


#include "harness.h"

namespace fc::testing {
namespace {

using protocol::Code;
using protocol::ReplyHeader;

std::string Request(protocol::RequestHeader h, const std::string& name, const std::string& token = "") {
  h.name_length = static_cast<uint32_t>(name.size());
  h.token_length = static_cast<uint32_t>(token.size());
  std::string out(protocol::kRequestHeaderSize, '\0');
  protocol::EncodeRequestHeader(h, reinterpret_cast<uint8_t*>(out.data()));
  return out + name + token;
}

std::string Put(const std::string& name, uint64_t length) {
  protocol::RequestHeader h;
  h.op = protocol::Op::kPut;
  h.length = length;
  return Request(h, name);
}

class ProtocolTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteText(root_ / "a.txt", "0123456789");
    server_ = std::make_unique<Server>(
        root_.path(), std::vector<std::string>{"--allow-upload", "--lock-dir", locks_.path() + "/l"});
    ASSERT_TRUE(server_->started());
  }
  // Sends `bytes`, reads one reply, and says whether the server then closed.
  ReplyHeader Exchange(const std::string& bytes, bool* closed, std::string* body = nullptr) {
    RawConnection conn(server_->port());
    conn.SetReceiveTimeout(2000);
    EXPECT_TRUE(conn.Send(bytes));
    ReplyHeader h;
    std::string text;
    EXPECT_TRUE(conn.ReadReply(&h, &text));
    if (body) *body = text;
    // Open connections still answer; closed ones reach EOF.
    if (conn.Send(RawConnection::GetRequest("a.txt"))) {
      ReplyHeader next;
      std::string next_body;
      *closed = !conn.ReadReply(&next, &next_body);
      if (!*closed) {
        EXPECT_EQ(next_body, "0123456789");
      }
    } else {
      *closed = true;
    }
    return h;
  }
  TempDir root_, locks_;
  std::unique_ptr<Server> server_;
};

TEST_F(ProtocolTableTest, GetRefusalsKeepTheConnectionOpen) {
  bool closed;
  EXPECT_EQ(Exchange(RawConnection::GetRequest("nope"), &closed).code, Code::kNotFound);
  EXPECT_FALSE(closed);
  EXPECT_EQ(Exchange(RawConnection::GetRequest("../x"), &closed).code, Code::kForbidden);
  EXPECT_FALSE(closed);
  EXPECT_EQ(Exchange(RawConnection::GetRequest(std::string(4096, 'a')), &closed).code, Code::kTooLarge);
  EXPECT_FALSE(closed) << "the name was read whole: the stream is still in step";
  EXPECT_EQ(Exchange(RawConnection::GetRequest(std::string(256, 'a') + "/x"), &closed).code,
            Code::kTooLarge);
  EXPECT_FALSE(closed);
  EXPECT_EQ(Exchange(RawConnection::GetRequest(std::string(255, 'a')), &closed).code, Code::kNotFound);
}

TEST_F(ProtocolTableTest, HeaderLevelRefusalsClose) {
  bool closed;
  protocol::RequestHeader h;
  std::string over = Request(h, "x");
  protocol::PutU32(reinterpret_cast<uint8_t*>(over.data()) + 4, 4097);  // name_length over the limit
  EXPECT_EQ(Exchange(over, &closed).code, Code::kTooLarge);
  EXPECT_TRUE(closed);
}

TEST_F(ProtocolTableTest, FieldsAnOperationDoesNotUseMustBeZero) {
  bool closed;
  protocol::RequestHeader list;
  list.op = protocol::Op::kList;
  EXPECT_EQ(Exchange(Request(list, "name"), &closed).code, Code::kBadRequest);
  EXPECT_TRUE(closed);
  list.offset = 1;
  EXPECT_EQ(Exchange(Request(list, ""), &closed).code, Code::kBadRequest);
  protocol::RequestHeader get;
  EXPECT_EQ(Exchange(Request(get, "a.txt", "token"), &closed).code, Code::kBadRequest);
  EXPECT_TRUE(closed);
  get.checksum = 5;
  EXPECT_EQ(Exchange(Request(get, "a.txt"), &closed).code, Code::kBadRequest);
}

TEST_F(ProtocolTableTest, BadRangeCarriesTheCurrentSize) {
  bool closed;
  const ReplyHeader h = Exchange(RawConnection::GetRequest("a.txt", 11), &closed);
  EXPECT_EQ(h.code, Code::kBadRange);
  EXPECT_EQ(h.file_size, 10u);
  EXPECT_FALSE(closed);
}

TEST_F(ProtocolTableTest, PutIsRefusedBeforeItsBodyAndThenCloses) {
  // No body is ever sent: each refusal must come at once, then EOF.
  const struct { std::string name; Code code; } rows[] = {
      {std::string(4096, 'a'), Code::kTooLarge},
      {std::string(300, 'b'), Code::kTooLarge},
      {"no-such-dir/x", Code::kNotFound},
      {"../x", Code::kForbidden},
      {".fc/health", Code::kForbidden},
  };
  for (const auto& row : rows) {
    bool closed;
    EXPECT_EQ(Exchange(Put(row.name, 1000), &closed).code, row.code) << row.name.substr(0, 20);
    EXPECT_TRUE(closed) << row.name.substr(0, 20);
  }
}

TEST_F(ProtocolTableTest, CanonicalNamesShareOneEntry) {
  bool closed;
  EXPECT_EQ(Exchange(RawConnection::GetRequest("a.txt"), &closed).code, Code::kOk);
  EXPECT_EQ(Exchange(RawConnection::GetRequest("./a.txt"), &closed).code, Code::kOk);
  EXPECT_EQ(Exchange(RawConnection::GetRequest(".//./a.txt"), &closed).code, Code::kOk);
  const ToolResult list = server_->Client({"list", "--json"});
  EXPECT_EQ(JsonValues(list.out, "name").size(), 1u) << list.out;
}

TEST(ProtocolTableInternalTest, InternalErrorsDoNotLeakServerPaths) {
  // An unexpected failure while loading (injected: FC_CRASH_ACTION=error) is
  // INTERNAL; its details, which name the lock directory, stay in the log.
  TempDir root, locks;
  WriteFile(root / "b.txt", 100000, 3);  // big enough to have a middle
  Server server(root.path(), {"--workers", "1", "--lock-dir", locks.path() + "/l"},
                {"FC_CRASH_AT=mid_load", "FC_CRASH_ACTION=error"});
  ASSERT_TRUE(server.started());
  RawConnection conn(server.port());
  ASSERT_TRUE(conn.Send(RawConnection::GetRequest("b.txt")));
  ReplyHeader h;
  std::string body;
  ASSERT_TRUE(conn.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kInternal);
  EXPECT_EQ(body.find(locks.path()), std::string::npos) << body;
  EXPECT_NE(server.Log().find(locks.path() + "/l)"), std::string::npos) << "the log keeps the details";
  // HTTP: 500, same rule; and the connection still serves.
  ASSERT_TRUE(conn.Send(RawConnection::GetRequest("b.txt")));
  ASSERT_TRUE(conn.ReadReply(&h, &body));
  EXPECT_EQ(h.code, Code::kOk);
}

}  // namespace
}  // namespace fc::testing
