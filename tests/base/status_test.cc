// Status kinds and the one place errno becomes text (base/status.h).
#include "fc/base/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>

namespace fc {
namespace {

TEST(StatusTest, ASystemCallsFailureKeepsTheCallTheContextAndTheErrorAndItsKind) {
  const Status missing = Status::FromErrno(ENOENT, "open", "a.txt");
  EXPECT_FALSE(missing.ok());
  EXPECT_EQ(missing.kind(), Status::Kind::kNotFound);
  EXPECT_EQ(missing.code(), ENOENT);
  EXPECT_EQ(missing.message(), "open(\"a.txt\") failed: " + ErrnoText(ENOENT));
  EXPECT_EQ(ErrnoText(ENOENT), std::strerror(ENOENT));
  EXPECT_EQ(Status::FromErrno(EAGAIN, "accept", "").kind(), Status::Kind::kBusy);
  EXPECT_EQ(Status::FromErrno(EBUSY, "flock", "x").kind(), Status::Kind::kBusy);
  EXPECT_EQ(Status::FromErrno(EACCES, "open", "b").kind(), Status::Kind::kIo);
  EXPECT_EQ(Status::FromErrno(EACCES, "open", "").message(), "open failed: " + ErrnoText(EACCES));
}

TEST(StatusTest, WordsHaveTheKindTheyAreMadeWith) {
  EXPECT_TRUE(Status::Ok().ok());
  EXPECT_EQ(Status::Ok().kind(), Status::Kind::kOk);
  EXPECT_EQ(Status::Error("bad --port").kind(), Status::Kind::kInvalid);
  EXPECT_EQ(Status::Busy("lock held").kind(), Status::Kind::kBusy);
  EXPECT_EQ(Status::NotFound("no such user").kind(), Status::Kind::kNotFound);
  EXPECT_EQ(Status::Busy("lock held").code(), -1);
  const Result<int> failed = Status::Busy("later");
  EXPECT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().kind(), Status::Kind::kBusy);
  const Result<int> value = 7;
  EXPECT_TRUE(value.ok());
  EXPECT_EQ(value.value(), 7);
}

}  // namespace
}  // namespace fc
