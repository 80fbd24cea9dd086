//===- Flags.cpp - Command-line flags of one llama-run subcommand ---------===//

#include "Flags.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

using namespace llamac::run;
using llamac::runtime::Status;

void FlagSet::add(Flag flag) { flags.push_back(std::move(flag)); }

void FlagSet::addString(const std::string &name, std::string *value,
                        const std::string &valueName, const std::string &help) {
  add({name, Kind::String, value, valueName, help,
       value->empty() ? "" : "\"" + *value + "\""});
}

void FlagSet::addInt(const std::string &name, int64_t *value,
                     const std::string &help) {
  add({name, Kind::Int, value, "N", help, std::to_string(*value)});
}

void FlagSet::addFloat(const std::string &name, double *value,
                       const std::string &help) {
  char text[32];
  std::snprintf(text, sizeof(text), "%g", *value);
  add({name, Kind::Float, value, "X", help, text});
}

void FlagSet::addBool(const std::string &name, bool *value,
                      const std::string &help) {
  add({name, Kind::Bool, value, "", help, ""});
}

Status FlagSet::assign(const Flag &flag, const std::string &text) {
  const std::string where = (flag.name.size() == 1 ? "-" : "--") +
                            flag.name + ": '" + text + "'";
  switch (flag.kind) {
  case Kind::String:
    *static_cast<std::string *>(flag.value) = text;
    return {};
  case Kind::Int: {
    char *end = nullptr;
    errno = 0;
    long long parsed = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE)
      return Status::error(where + " is not an integer");
    *static_cast<int64_t *>(flag.value) = parsed;
    return {};
  }
  case Kind::Float: {
    char *end = nullptr;
    double parsed = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(parsed))
      return Status::error(where + " is not a number");
    *static_cast<double *>(flag.value) = parsed;
    return {};
  }
  case Kind::Bool:
    if (text == "true" || text == "1")
      *static_cast<bool *>(flag.value) = true;
    else if (text == "false" || text == "0")
      *static_cast<bool *>(flag.value) = false;
    else
      return Status::error(where + " is not true or false");
    return {};
  }
  return {};
}

Status FlagSet::parse(const std::vector<std::string> &args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help = true;
      continue;
    }
    // One-letter flags (-o) take one dash, as compilers' do.
    bool shortFlag = arg.size() == 2 && arg[0] == '-' && arg[1] != '-';
    if (arg.rfind("--", 0) != 0 && !shortFlag)
      return Status::error("unexpected argument '" + arg +
                           "' (flags start with --; see llama-run " + command +
                           " --help)");
    std::string name = arg.substr(shortFlag ? 1 : 2), text;
    size_t equals = name.find('=');
    bool inlineValue = equals != std::string::npos;
    if (inlineValue) {
      text = name.substr(equals + 1);
      name.resize(equals);
    }
    const Flag *flag = nullptr;
    for (const Flag &candidate : flags)
      if (candidate.name == name)
        flag = &candidate;
    if (!flag)
      return Status::error("unknown flag '--" + name + "' (see llama-run " +
                           command + " --help)");
    if (flag->kind == Kind::Bool && !inlineValue) {
      *static_cast<bool *>(flag->value) = true;
    } else {
      if (!inlineValue) {
        if (i + 1 >= args.size())
          return Status::error("--" + name + ": needs a value");
        text = args[++i];
      }
      LLAMAC_RETURN_IF_ERROR(assign(*flag, text));
    }
    seen.insert(name);
  }
  return {};
}

std::string FlagSet::usage() const {
  std::string text =
      "usage: llama-run " + command + " [flags]\n\n" + summary + "\n\nflags:\n";
  for (const Flag &flag : flags) {
    std::string left =
        (flag.name.size() == 1 ? "  -" : "  --") + flag.name;
    if (!flag.valueName.empty())
      left += " " + flag.valueName;
    if (left.size() < 26)
      left.resize(26, ' ');
    else
      left += "\n" + std::string(26, ' ');
    text += left + flag.help;
    if (!flag.defaultText.empty())
      text += " (default " + flag.defaultText + ")";
    text += "\n";
  }
  text += "  --help                  this text\n";
  return text;
}

namespace {

/// The comma-separated items of `text` ("" is one empty item).
std::vector<std::string> splitList(const std::string &text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos)
      end = text.size();
    items.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return items;
}

} // namespace

llamac::runtime::StatusOr<std::vector<std::string>>
llamac::run::parseWordList(const std::string &flag, const std::string &text) {
  std::vector<std::string> words = splitList(text);
  for (const std::string &word : words)
    if (word.empty())
      return runtime::Status::error(flag + ": empty item in '" + text + "'");
  return words;
}

llamac::runtime::StatusOr<std::vector<int64_t>>
llamac::run::parseIntegerList(const std::string &flag, const std::string &text,
                              int64_t min, int64_t max,
                              const std::string &what) {
  std::vector<int64_t> values;
  for (const std::string &item : splitList(text)) {
    char *stop = nullptr;
    errno = 0;
    long long value = std::strtoll(item.c_str(), &stop, 10);
    if (item.empty() || *stop != '\0' || errno == ERANGE || value < min ||
        value > max)
      return Status::error(flag + ": '" + item + "' is not " + what);
    values.push_back(value);
  }
  return values;
}

llamac::runtime::StatusOr<std::vector<float>>
llamac::run::parseNumberList(const std::string &flag, const std::string &text) {
  std::vector<float> values;
  for (const std::string &item : splitList(text)) {
    char *stop = nullptr;
    double value = std::strtod(item.c_str(), &stop);
    if (item.empty() || *stop != '\0' || !std::isfinite(value))
      return Status::error(flag + ": '" + item +
                           "' is not a number (expected a list like 1,0.5,0)");
    values.push_back(float(value));
  }
  return values;
}
