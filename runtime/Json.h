//===- Json.h - A minimal JSON reader for file headers -----------*- C++
//-*-===//
//
// Safetensors headers are JSON, and the runtime may not pull in LLVM's JSON
// (or any other library) for a few hundred bytes of it. This parser accepts
// exactly RFC 8259 JSON, keeps object keys in file order, and rejects
// duplicate keys, which a safetensors header must never have.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_JSON_H
#define LLAMAC_RUNTIME_JSON_H

#include "runtime/Status.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llamac::runtime {

class JsonValue {
public:
  enum class Kind { Null, Bool, Number, String, Array, Object };

  Kind kind = Kind::Null;
  bool boolean = false;
  double number = 0;
  /// Set for numbers written without sign, fraction or exponent that fit in
  /// 64 bits: sizes and offsets must not go through a double.
  bool isUnsigned = false;
  uint64_t unsignedValue = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::vector<std::pair<std::string, JsonValue>> object;

  bool isObject() const { return kind == Kind::Object; }
  bool isArray() const { return kind == Kind::Array; }
  bool isString() const { return kind == Kind::String; }
  /// Null when this is not an object or has no such key.
  const JsonValue *get(std::string_view key) const;
};

/// Parses one JSON document (surrounding whitespace allowed). The error is
/// "offset N: REASON"; callers prefix the file name.
StatusOr<JsonValue> parseJson(std::string_view text);

/// `text` as a JSON string literal, quotes included.
std::string quoteJson(std::string_view text);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_JSON_H
