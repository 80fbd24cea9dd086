//===- Strings.h - String tests the runtime shares ---------------*- C++
//-*-===//
//
// C++17's std::string has no ends_with, and the runtime may not use LLVM's
// StringRef; tensor names ("...attention.wq.weight") and file names
// (".safetensors") are told apart by their endings in several readers.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_STRINGS_H
#define LLAMAC_RUNTIME_STRINGS_H

#include <string_view>

namespace llamac::runtime {

inline bool endsWith(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() &&
         text.substr(text.size() - suffix.size()) == suffix;
}

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_STRINGS_H
