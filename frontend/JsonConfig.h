//===- JsonConfig.h - Reading config fields out of JSON ----------*- C++
//-*-===//
//
// What the params.json and config.json readers share: loading and parsing the
// file with errors that name it, and typed field access that remembers the
// first problem so a reader can read every field and check once at the end.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_FRONTEND_JSONCONFIG_H
#define LLAMAC_FRONTEND_JSONCONFIG_H

#include "frontend/ConfigCheck.h"
#include "frontend/ModelConfig.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <optional>
#include <string>

namespace llamac {

/// "<source>: <reason>" as an llvm::Error.
llvm::Error configError(llvm::StringRef source, const llvm::Twine &reason);
/// "<source>: <field>: <reason>" as an llvm::Error.
llvm::Error configError(llvm::StringRef source, llvm::StringRef field,
                        const llvm::Twine &reason);

/// Reads and parses `path`; the value is a JSON object.
llvm::Expected<llvm::json::Object> readJsonObject(llvm::StringRef path);

/// Runs checkConfig and words its failure in the source's own field names.
llvm::Error checkConfigFrom(llvm::StringRef source, const ModelConfig &config,
                            FieldNamer nameOf);

/// The params.json and config.json readers, given an already parsed object,
/// so that loadModelConfig can sniff the format without reading twice.
llvm::Expected<ModelConfig> metaParamsFromJson(llvm::StringRef source,
                                               const llvm::json::Object &root);
llvm::Expected<ModelConfig> hfConfigFromJson(llvm::StringRef source,
                                             const llvm::json::Object &root);

/// Typed access to the fields of one JSON object. A wrong type, a missing
/// required field or an unknown key is recorded (first one wins) and the
/// getter returns nullopt, so readers stay free of error plumbing.
class JsonFields {
public:
  JsonFields(llvm::StringRef source, const llvm::json::Object &object)
      : source(source), object(object) {}

  /// Records an error for the first key (in sorted order, so the message is
  /// stable) that is not in `known`.
  void rejectUnknownKeys(llvm::ArrayRef<llvm::StringRef> known);

  bool has(llvm::StringRef key) const { return object.get(key) != nullptr; }
  /// True when the key is present with the value null.
  bool isNull(llvm::StringRef key) const;

  /// Absent keys yield nullopt without an error; present keys of the wrong
  /// type record one.
  std::optional<int64_t> getInt(llvm::StringRef key);
  std::optional<double> getNumber(llvm::StringRef key);
  std::optional<bool> getBool(llvm::StringRef key);
  std::optional<std::string> getString(llvm::StringRef key);

  /// Like getInt, but an absent key is an error too.
  std::optional<int64_t> requireInt(llvm::StringRef key);

  /// Records "<source>: <field>: <reason>" unless an error is already held.
  void fail(llvm::StringRef field, const llvm::Twine &reason);
  bool failed() const { return firstError.has_value(); }
  /// The first recorded error, or success.
  llvm::Error takeError();

private:
  void failType(llvm::StringRef key, llvm::StringRef expected,
                const llvm::json::Value &value);

  std::string source;
  const llvm::json::Object &object;
  /// Kept as text rather than an llvm::Error so that the class needs no
  /// care about unchecked errors when it is copied or destroyed.
  std::optional<std::string> firstError;
};

} // namespace llamac

#endif // LLAMAC_FRONTEND_JSONCONFIG_H
