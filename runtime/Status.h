//===- Status.h - Runtime error type -----------------------------*- C++
//-*-===//
//
// The runtime reports errors by value, never by exception, and never through
// LLVM's Error (a deployment links no LLVM). A failed Status carries one
// human-readable message; by convention it reads "FILE: FIELD: REASON" so
// that a user can act on it without a debugger.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_STATUS_H
#define LLAMAC_RUNTIME_STATUS_H

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace llamac::runtime {

/// Success, or a failure with a message. Cheap to return on success.
class [[nodiscard]] Status {
public:
  /// A default-constructed Status is success, so `return {};` reads well.
  Status() = default;

  static Status success() { return Status(); }
  /// The message must not be empty: an empty message would look like success
  /// to anyone printing it.
  static Status error(std::string message) {
    assert(!message.empty() && "an error needs a message");
    Status status;
    status.failed = true;
    status.text = std::move(message);
    return status;
  }

  bool ok() const { return !failed; }
  /// Empty on success.
  const std::string &message() const { return text; }

private:
  bool failed = false;
  std::string text;
};

/// A value of type T, or the error that prevented computing it.
template <class T> class [[nodiscard]] StatusOr {
public:
  StatusOr(T value) : result(std::move(value)) {}
  /// Only failed statuses convert: a successful StatusOr needs a value.
  StatusOr(Status status) : failure(std::move(status)) {
    assert(!failure.ok() && "StatusOr built from a successful Status");
  }

  bool ok() const { return result.has_value(); }
  const Status &status() const { return failure; }
  const std::string &message() const { return failure.message(); }

  T &value() & {
    assert(ok() && "value() of a failed StatusOr");
    return *result;
  }
  const T &value() const & {
    assert(ok() && "value() of a failed StatusOr");
    return *result;
  }
  T &&value() && {
    assert(ok() && "value() of a failed StatusOr");
    return std::move(*result);
  }
  T &operator*() & { return value(); }
  const T &operator*() const & { return value(); }
  T &&operator*() && { return std::move(*this).value(); }
  T *operator->() { return &value(); }
  const T *operator->() const { return &value(); }

private:
  std::optional<T> result;
  Status failure;
};

} // namespace llamac::runtime

/// Returns from the enclosing function when `expr` (a Status) failed.
#define LLAMAC_RETURN_IF_ERROR(expr)                                           \
  do {                                                                         \
    ::llamac::runtime::Status llamacStatus_ = (expr);                          \
    if (!llamacStatus_.ok())                                                   \
      return llamacStatus_;                                                    \
  } while (false)

#endif // LLAMAC_RUNTIME_STATUS_H
