//===- JsonTest.cpp - The minimal JSON reader -----------------------------===//

#include "runtime/Json.h"

#include <gtest/gtest.h>

using namespace llamac::runtime;

namespace {

TEST(JsonTest, ParsesNestedValues) {
  StatusOr<JsonValue> parsed = parseJson(
      R"( {"a": [1, 2.5, -3, true, false, null], "b": {"c": "d\n\u00e9\ud83d\ude00"}} )");
  ASSERT_TRUE(parsed.ok()) << parsed.message();
  const JsonValue *a = parsed->get("a");
  ASSERT_TRUE(a && a->isArray());
  ASSERT_EQ(a->array.size(), 6u);
  EXPECT_TRUE(a->array[0].isUnsigned);
  EXPECT_EQ(a->array[0].unsignedValue, 1u);
  EXPECT_FALSE(a->array[1].isUnsigned);
  EXPECT_EQ(a->array[1].number, 2.5);
  EXPECT_FALSE(a->array[2].isUnsigned);
  EXPECT_EQ(a->array[2].number, -3);
  EXPECT_TRUE(a->array[3].boolean);
  EXPECT_EQ(a->array[5].kind, JsonValue::Kind::Null);
  const JsonValue *c = parsed->get("b")->get("c");
  ASSERT_TRUE(c && c->isString());
  EXPECT_EQ(c->string, "d\n\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(JsonTest, KeepsLargeIntegersExact) {
  StatusOr<JsonValue> parsed =
      parseJson("[18446744073709551615, 9007199254740993]");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->array[0].unsignedValue, 18446744073709551615ull);
  EXPECT_EQ(parsed->array[1].unsignedValue, 9007199254740993ull);
}

TEST(JsonTest, ReportsErrorsWithOffsets) {
  EXPECT_EQ(parseJson("{\"a\": 1,}").message(),
            "offset 8: expected a string key");
  EXPECT_EQ(parseJson("{\"a\": 1, \"a\": 2}").message(),
            "offset 9: duplicate key \"a\"");
  EXPECT_EQ(parseJson("[1] x").message(),
            "offset 4: unexpected text after the JSON value");
  EXPECT_EQ(parseJson("\"abc").message(), "offset 4: unterminated string");
  EXPECT_EQ(parseJson("01").message(), "offset 2: leading zero in a number");
  EXPECT_FALSE(parseJson("").ok());
  EXPECT_FALSE(parseJson(std::string(100, '[')).ok());
}

TEST(JsonTest, QuotesStrings) {
  EXPECT_EQ(quoteJson("a\"b\\c\n\x01"), "\"a\\\"b\\\\c\\n\\u0001\"");
  StatusOr<JsonValue> back = parseJson(quoteJson("x\"\\\t\x1f y"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->string, "x\"\\\t\x1f y");
}

} // namespace
