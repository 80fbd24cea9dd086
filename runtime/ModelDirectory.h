//===- ModelDirectory.h - Files in a model directory -------------*- C++
//-*-===//
//
// Model directories as Hugging Face and Meta publish them hold the weights,
// the config and the tokenizer under fixed names; the weight loader and the
// tokenizer loader both look names up in one.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_MODELDIRECTORY_H
#define LLAMAC_RUNTIME_MODELDIRECTORY_H

#include <initializer_list>
#include <optional>
#include <string>

namespace llamac::runtime {

bool isDirectory(const std::string &path);

/// `path` without trailing slashes ("/" stays "/").
std::string withoutTrailingSlashes(std::string path);

/// The directory holding `path`: "." for a bare name, "/" for a file at the
/// root.
std::string parentDirectory(const std::string &path);

/// The last component of `path` ("consolidated.00.pth").
std::string fileName(const std::string &path);

/// `directory` + "/" + `name`, with one slash between them.
std::string joinPath(const std::string &directory, const std::string &name);

/// The path of the first of `names` that is a regular file in `directory`.
std::optional<std::string>
firstFileIn(const std::string &directory,
            std::initializer_list<const char *> names);

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_MODELDIRECTORY_H
