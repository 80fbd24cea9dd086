//===- StatusTest.cpp - Status and StatusOr -------------------------------===//

#include "runtime/Status.h"

#include <gtest/gtest.h>

#include <memory>

using namespace llamac::runtime;

namespace {

Status failIf(bool fail) {
  if (fail)
    return Status::error("f.bin: dim: must be positive");
  return {};
}

Status propagate(bool fail) {
  LLAMAC_RETURN_IF_ERROR(failIf(fail));
  return Status::error("reached the end");
}

TEST(StatusTest, SuccessAndError) {
  EXPECT_TRUE(Status().ok());
  EXPECT_TRUE(Status::success().message().empty());
  Status error = Status::error("f.bin: dim: must be positive");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.message(), "f.bin: dim: must be positive");
}

TEST(StatusTest, ReturnIfErrorPropagates) {
  EXPECT_EQ(propagate(true).message(), "f.bin: dim: must be positive");
  EXPECT_EQ(propagate(false).message(), "reached the end");
}

TEST(StatusTest, StatusOrHoldsValueOrError) {
  StatusOr<std::unique_ptr<int>> value = std::make_unique<int>(7);
  ASSERT_TRUE(value.ok());
  EXPECT_EQ(**value, 7);
  std::unique_ptr<int> taken = std::move(value).value();
  EXPECT_EQ(*taken, 7);

  StatusOr<int> error = Status::error("x: y: z");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.message(), "x: y: z");
}

} // namespace
