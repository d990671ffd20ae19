#include "fc/protocol/wire.h"

#include <gtest/gtest.h>

#include "fc/base/checksum.h"

namespace fc::protocol {
namespace {

TEST(WireTest, RequestHeaderRoundTrips) {
  RequestHeader in;
  in.op = Op::kGet;
  in.name_length = 17;
  in.offset = 0x0102030405060708ULL;
  in.length = 99;
  uint8_t buf[kRequestHeaderSize];
  EncodeRequestHeader(in, buf);
  EXPECT_EQ(buf[0], 'F');
  EXPECT_EQ(buf[1], 'C');
  EXPECT_EQ(buf[2], kVersion);
  EXPECT_EQ(buf[8], 0x01);  // big-endian offset
  RequestHeader out;
  ASSERT_EQ(DecodeRequestHeader(buf, &out), DecodeError::kNone);
  EXPECT_EQ(out.op, Op::kGet);
  EXPECT_EQ(out.name_length, 17u);
  EXPECT_EQ(out.offset, in.offset);
  EXPECT_EQ(out.length, 99u);
}

TEST(WireTest, RequestHeaderRejectsBadMagicVersionOpAndLongNames) {
  RequestHeader in;
  in.name_length = 3;
  uint8_t buf[kRequestHeaderSize];
  RequestHeader out;
  EncodeRequestHeader(in, buf);
  buf[0] = 'G';
  EXPECT_EQ(DecodeRequestHeader(buf, &out), DecodeError::kBadMagic);
  EncodeRequestHeader(in, buf);
  buf[2] = 9;
  EXPECT_EQ(DecodeRequestHeader(buf, &out), DecodeError::kBadVersion);
  EncodeRequestHeader(in, buf);
  buf[3] = 42;
  EXPECT_EQ(DecodeRequestHeader(buf, &out), DecodeError::kBadOp);
  in.name_length = kMaxNameLength + 1;
  EncodeRequestHeader(in, buf);
  EXPECT_EQ(DecodeRequestHeader(buf, &out), DecodeError::kNameTooLong);
  in.name_length = 0;
  EncodeRequestHeader(in, buf);
  EXPECT_EQ(DecodeRequestHeader(buf, &out), DecodeError::kEmptyName);
  in.op = Op::kList;
  EncodeRequestHeader(in, buf);
  EXPECT_EQ(DecodeRequestHeader(buf, &out), DecodeError::kNone);
}

TEST(WireTest, ReplyHeaderRoundTrips) {
  ReplyHeader in;
  in.code = Code::kNotFound;
  in.flags = kFlagFromCache;
  in.file_size = 5'200'000;
  in.offset = 12;
  in.body_length = 5'199'988;
  in.checksum = 0xdeadbeefcafef00dULL;
  uint8_t buf[kReplyHeaderSize];
  EncodeReplyHeader(in, buf);
  ReplyHeader out;
  ASSERT_TRUE(DecodeReplyHeader(buf, &out));
  EXPECT_EQ(out.code, Code::kNotFound);
  EXPECT_EQ(out.flags, kFlagFromCache);
  EXPECT_EQ(out.file_size, in.file_size);
  EXPECT_EQ(out.offset, 12u);
  EXPECT_EQ(out.body_length, in.body_length);
  EXPECT_EQ(out.checksum, in.checksum);
  buf[1] = 'X';
  EXPECT_FALSE(DecodeReplyHeader(buf, &out));
}

TEST(WireTest, ListBodyRoundTripsAndRejectsTruncation) {
  std::vector<ListItem> items = {{"a.txt", 10, 1, 7}, {"docs/a b.txt", 5'200'000, 0, 0}};
  const std::string body = EncodeListBody(items);
  std::vector<ListItem> out;
  ASSERT_TRUE(DecodeListBody(body, &out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].name, "docs/a b.txt");
  EXPECT_EQ(out[1].size, 5'200'000u);
  EXPECT_EQ(out[0].readers, 1u);
  EXPECT_EQ(out[0].hits, 7u);
  for (size_t cut = 0; cut < body.size(); ++cut) {
    EXPECT_FALSE(DecodeListBody(body.substr(0, cut), &out)) << "cut at " << cut;
  }
  EXPECT_FALSE(DecodeListBody(body + "x", &out));
}

TEST(WireTest, ListBodyWithHugeCountIsRejectedWithoutAllocating) {
  std::string body = "\xff\xff\xff\xff";
  std::vector<ListItem> out;
  EXPECT_FALSE(DecodeListBody(body, &out));
}

TEST(WireTest, ChecksumIsXxHash64SeedZero) {
  // Reference value of XXH64("", 0) and streaming equals one-shot.
  EXPECT_EQ(Checksum64::Of("", 0), 0xEF46DB3751D8E999ULL);
  Checksum64 c;
  c.Update("hello ", 6);
  c.Update("world", 5);
  EXPECT_EQ(c.Digest(), Checksum64::Of("hello world", 11));
}

}  // namespace
}  // namespace fc::protocol
