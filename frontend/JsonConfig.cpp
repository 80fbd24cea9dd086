//===- JsonConfig.cpp - Reading config fields out of JSON -----------------===//

#include "frontend/JsonConfig.h"

#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Regex.h"

using namespace llamac;
using namespace llvm;

Error llamac::configError(StringRef source, const Twine &reason) {
  return createStringError(inconvertibleErrorCode(),
                           (source + ": " + reason).str());
}

Error llamac::configError(StringRef source, StringRef field,
                          const Twine &reason) {
  return createStringError(inconvertibleErrorCode(),
                           (source + ": " + field + ": " + reason).str());
}

/// llvm::json words its errors as "[line:col, byte=N]: message"; users
/// expect the compiler convention of "line L, column C".
static std::string describeParseError(Error error) {
  std::string text = toString(std::move(error));
  SmallVector<StringRef, 4> groups;
  if (Regex("^\\[([0-9]+):([0-9]+), byte=[0-9]+\\]: (.*)$")
          .match(text, &groups))
    return ("malformed JSON at line " + groups[1] + ", column " + groups[2] +
            ": " + groups[3])
        .str();
  return "malformed JSON: " + text;
}

Expected<json::Object> llamac::readJsonObject(StringRef path) {
  ErrorOr<std::unique_ptr<MemoryBuffer>> buffer =
      MemoryBuffer::getFile(path, /*IsText=*/true);
  if (!buffer)
    return configError(path, buffer.getError().message());
  Expected<json::Value> value = json::parse((*buffer)->getBuffer());
  if (!value)
    return configError(path, describeParseError(value.takeError()));
  json::Object *object = value->getAsObject();
  if (!object)
    return configError(path, "expected a JSON object at the top level");
  return std::move(*object);
}

Error llamac::checkConfigFrom(StringRef source, const ModelConfig &config,
                              FieldNamer nameOf) {
  std::optional<ConfigIssue> issue = checkConfig(config, nameOf);
  if (!issue)
    return Error::success();
  return configError(source, nameOf(issue->field), issue->reason);
}

/// The JSON kind of a value, for "expected an integer, got a string".
static const char *kindOf(const json::Value &value) {
  switch (value.kind()) {
  case json::Value::Null:
    return "null";
  case json::Value::Boolean:
    return "a boolean";
  case json::Value::Number:
    return value.getAsInteger() ? "an integer" : "a fractional number";
  case json::Value::String:
    return "a string";
  case json::Value::Array:
    return "an array";
  case json::Value::Object:
    return "an object";
  }
  return "an unknown value";
}

void JsonFields::rejectUnknownKeys(ArrayRef<StringRef> known) {
  SmallVector<StringRef> unknown;
  for (const auto &entry : object)
    if (!is_contained(known, StringRef(entry.first)))
      unknown.push_back(entry.first);
  if (unknown.empty())
    return;
  llvm::sort(unknown);
  fail(unknown.front(), "unknown key");
}

bool JsonFields::isNull(StringRef key) const {
  const json::Value *value = object.get(key);
  return value && value->kind() == json::Value::Null;
}

std::optional<int64_t> JsonFields::getInt(StringRef key) {
  const json::Value *value = object.get(key);
  if (!value)
    return std::nullopt;
  // getAsInteger also accepts a double with no fractional part (4096.0),
  // which Python would happily use as well.
  if (std::optional<int64_t> result = value->getAsInteger())
    return result;
  failType(key, "an integer", *value);
  return std::nullopt;
}

std::optional<double> JsonFields::getNumber(StringRef key) {
  const json::Value *value = object.get(key);
  if (!value)
    return std::nullopt;
  if (std::optional<double> result = value->getAsNumber())
    return result;
  failType(key, "a number", *value);
  return std::nullopt;
}

std::optional<bool> JsonFields::getBool(StringRef key) {
  const json::Value *value = object.get(key);
  if (!value)
    return std::nullopt;
  if (std::optional<bool> result = value->getAsBoolean())
    return result;
  failType(key, "a boolean", *value);
  return std::nullopt;
}

std::optional<std::string> JsonFields::getString(StringRef key) {
  const json::Value *value = object.get(key);
  if (!value)
    return std::nullopt;
  if (std::optional<StringRef> result = value->getAsString())
    return result->str();
  failType(key, "a string", *value);
  return std::nullopt;
}

std::optional<int64_t> JsonFields::requireInt(StringRef key) {
  if (!has(key)) {
    fail(key, "missing required key");
    return std::nullopt;
  }
  return getInt(key);
}

void JsonFields::fail(StringRef field, const Twine &reason) {
  if (!firstError)
    firstError = (source + ": " + field + ": " + reason).str();
}

Error JsonFields::takeError() {
  if (!firstError)
    return Error::success();
  std::string message = std::move(*firstError);
  firstError.reset();
  return createStringError(inconvertibleErrorCode(), message);
}

void JsonFields::failType(StringRef key, StringRef expected,
                          const json::Value &value) {
  fail(key, "expected " + expected + ", got " + kindOf(value));
}
