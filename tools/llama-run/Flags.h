//===- Flags.h - Command-line flags of one llama-run subcommand --*- C++
//-*-===//
//
// Each subcommand declares its flags with their help once; parsing, "unknown
// flag" errors and --help all come from that one list, so the help can never
// miss a flag.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TOOLS_LLAMA_RUN_FLAGS_H
#define LLAMAC_TOOLS_LLAMA_RUN_FLAGS_H

#include "runtime/Status.h"

#include <cstdint>
#include <set>
#include <string>
#include <vector>

namespace llamac::run {

class FlagSet {
public:
  FlagSet(std::string command, std::string summary)
      : command(std::move(command)), summary(std::move(summary)) {}

  void addString(const std::string &name, std::string *value,
                 const std::string &valueName, const std::string &help);
  void addInt(const std::string &name, int64_t *value, const std::string &help);
  void addFloat(const std::string &name, double *value,
                const std::string &help);
  /// A flag without a value: present means true.
  void addBool(const std::string &name, bool *value, const std::string &help);

  /// Accepts "--name value" and "--name=value". Errors read "--steps: 'x' is
  /// not an integer" or "unknown flag '--x' (see llama-run CMD --help)".
  runtime::Status parse(const std::vector<std::string> &args);
  bool helpRequested() const { return help; }
  bool wasSet(const std::string &name) const { return seen.count(name) != 0; }
  /// The --help text: usage line, summary, and every flag with its default.
  std::string usage() const;

private:
  enum class Kind { String, Int, Float, Bool };
  struct Flag {
    std::string name;
    Kind kind;
    void *value;
    std::string valueName;
    std::string help;
    std::string defaultText;
  };
  void add(Flag flag);
  runtime::Status assign(const Flag &flag, const std::string &text);

  std::string command;
  std::string summary;
  std::vector<Flag> flags;
  std::set<std::string> seen;
  bool help = false;
};

/// The comma-separated finite numbers of `text`, as f32.
runtime::StatusOr<std::vector<float>> parseNumberList(const std::string &flag,
                                                      const std::string &text);

/// The comma-separated integers of `text`, each within [min, max]. An item
/// that is not one fails as "FLAG: 'ITEM' is not WHAT".
runtime::StatusOr<std::vector<int64_t>>
parseIntegerList(const std::string &flag, const std::string &text, int64_t min,
                 int64_t max, const std::string &what);

/// The comma-separated words of `text`, none empty: "FLAG: empty item in
/// 'a,,b'" otherwise.
runtime::StatusOr<std::vector<std::string>>
parseWordList(const std::string &flag, const std::string &text);

} // namespace llamac::run

#endif // LLAMAC_TOOLS_LLAMA_RUN_FLAGS_H
