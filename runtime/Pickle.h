//===- Pickle.h - A pickle reader that runs nothing --------------*- C++
//-*-===//
//
// torch.save pickles a state dict: dicts, tuples, strings and numbers, plus
// calls to a few torch functions that rebuild tensors from storages the
// archive holds beside the pickle. Python's unpickler runs whatever
// function a pickle names, which is why loading an untrusted checkpoint is
// dangerous. This one runs nothing: it builds the values, records each call
// (REDUCE) as a Call value for the caller to interpret, and refuses any
// global the caller does not allow. The one call it evaluates itself is
// collections.OrderedDict(), because state dicts are filled in place.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_PICKLE_H
#define LLAMAC_RUNTIME_PICKLE_H

#include "runtime/Status.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace llamac::runtime {

struct PickleValue;
/// Values refer to each other by pointers into the Pickle that owns them
/// all: the memo shares values, and SETITEMS can put a dict into itself, so
/// shared ownership would leak the cycles a hostile pickle makes.
using PickleRef = PickleValue *;

struct PickleValue {
  enum class Kind {
    None,
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Tuple,
    List,
    /// items: key, value, key, value, ... in insertion order.
    Dict,
    /// text: "module.name".
    Global,
    /// items: {the persistent id}; what BINPERSID refers to outside the
    /// pickle (torch: a storage in the archive).
    PersistentId,
    /// items: {callable, arguments tuple}, then the BUILD state if any.
    Call,
  };

  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;
  std::vector<PickleRef> items;

  bool isGlobal(const char *qualifiedName) const {
    return kind == Kind::Global && text == qualifiedName;
  }
  /// The callable of a Call, or nullptr.
  const PickleValue *callee() const {
    return kind == Kind::Call ? items[0] : nullptr;
  }
  /// A short description for errors, with its article: "an int 3", "a
  /// tuple of 2", "the global torch.FloatStorage".
  std::string describe() const;
};

/// A read pickle: every value it made, which `root` and the values' items
/// point into.
struct Pickle {
  std::vector<std::unique_ptr<PickleValue>> values;
  PickleValue *root = nullptr;
};

/// Whether a pickle may name the global "module.name".
using PickleGlobalFilter = std::function<bool(const std::string &)>;

/// Reads the pickle in `bytes` (protocols 2 to 5, the opcodes torch.save
/// and Python's pickle emit for containers and numbers) up to its STOP and
/// returns the value it leaves. Errors read "ORIGIN: byte N: REASON": a
/// truncated stream, an opcode outside that set, a global `allowGlobal`
/// refuses, or a stack or memo misuse.
StatusOr<Pickle> readPickle(const uint8_t *bytes, size_t size,
                            const std::string &origin,
                            const PickleGlobalFilter &allowGlobal);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_PICKLE_H
