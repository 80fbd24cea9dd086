//===- CudaArch.cpp - Which cuda binary of an artifact a GPU runs ---------===//

#include "runtime/CudaArch.h"

#include <algorithm>
#include <cctype>

using namespace llamac;
using namespace llamac::artifact;
using namespace llamac::runtime;

namespace {

std::string joinNames(const std::vector<std::string> &names) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i)
    text += (i ? ", " : "") + names[i];
  return text;
}

bool isCubin(const BinarySpec &binary) { return binary.format == "cubin"; }
bool isPtx(const BinarySpec &binary) { return binary.format == "ptx"; }

} // namespace

std::string SmVersion::smName() const {
  return "sm_" + std::to_string(major * 10 + minor) + (archSpecific ? "a" : "");
}

std::string SmVersion::computeName() const {
  return "compute_" + std::to_string(major * 10 + minor) +
         (archSpecific ? "a" : "");
}

std::optional<SmVersion>
llamac::runtime::parseCudaArch(const std::string &arch) {
  std::string digits;
  if (arch.rfind("sm_", 0) == 0)
    digits = arch.substr(3);
  else if (arch.rfind("compute_", 0) == 0)
    digits = arch.substr(8);
  else
    return std::nullopt;
  SmVersion version;
  if (!digits.empty() && digits.back() == 'a') {
    version.archSpecific = true;
    digits.pop_back();
  }
  // Two or three digits: the last is the minor version (sm_100 is 10.0).
  if (digits.size() < 2 || digits.size() > 3 || digits[0] == '0' ||
      !std::all_of(digits.begin(), digits.end(),
                   [](char c) { return std::isdigit((unsigned char)c); }))
    return std::nullopt;
  int value = std::stoi(digits);
  version.major = value / 10;
  version.minor = value % 10;
  return version;
}

StatusOr<CudaBinaryChoice>
llamac::runtime::selectCudaBinary(const std::vector<BinarySpec> &binaries,
                                  SmVersion device, bool ptxOnly) {
  std::optional<CudaBinaryChoice> cubin, ptx;
  SmVersion cubinVersion, ptxVersion;
  std::vector<std::pair<SmVersion, std::string>> cubins, ptxs;
  for (size_t i = 0; i < binaries.size(); ++i) {
    const BinarySpec &binary = binaries[i];
    if (binary.target != "cuda")
      continue;
    std::optional<SmVersion> version = parseCudaArch(binary.arch);
    if (!version || (!isCubin(binary) && !isPtx(binary)))
      continue;
    if (isCubin(binary)) {
      cubins.push_back({*version, version->smName()});
      bool runs = version->archSpecific ? *version == device
                                        : version->major == device.major &&
                                              version->minor <= device.minor;
      // Among equals, a generic cubin beats an arch-specific one only when
      // the latter cannot run; both run here, so keep the first found.
      if (runs && !ptxOnly && (!cubin || cubinVersion < *version)) {
        cubin = CudaBinaryChoice{i, false, ""};
        cubinVersion = *version;
      }
    } else {
      ptxs.push_back({*version, version->computeName()});
      bool runs =
          version->archSpecific ? *version == device : *version <= device;
      if (runs && (!ptx || ptxVersion < *version)) {
        ptx = CudaBinaryChoice{i, true, ""};
        ptxVersion = *version;
      }
    }
  }

  if (cubin) {
    cubin->description = "cubin " + cubinVersion.smName() +
                         (cubinVersion == device ? " (exact match)"
                                                 : " (binary compatible with " +
                                                       device.smName() + ")");
    return *cubin;
  }
  if (ptx) {
    ptx->description = "PTX " + ptxVersion.computeName() +
                       " (JIT-compiled for " + device.smName() + ")";
    return *ptx;
  }

  auto sortedNames = [](std::vector<std::pair<SmVersion, std::string>> list) {
    std::stable_sort(list.begin(), list.end(),
                     [](auto &a, auto &b) { return a.first < b.first; });
    std::vector<std::string> names;
    for (auto &[version, name] : list)
      if (std::find(names.begin(), names.end(), name) == names.end())
        names.push_back(name);
    return names;
  };
  std::vector<std::string> cubinNames = sortedNames(cubins);
  std::vector<std::string> ptxNames = sortedNames(ptxs);
  std::string has =
      cubinNames.empty() ? "no cubins" : "cubins for " + joinNames(cubinNames);
  if (ptxNames.empty()) {
    has += " and no PTX";
  } else {
    SmVersion lowest =
        std::min_element(ptxs.begin(), ptxs.end(), [](auto &a, auto &b) {
          return a.first < b.first;
        })->first;
    has += " and PTX for " + joinNames(ptxNames) + ", which needs " +
           SmVersion{lowest.major, lowest.minor, false}.smName() +
           (lowest.archSpecific ? " exactly" : " or newer");
  }
  if (ptxOnly)
    return Status::error("no PTX for " + device.smName() +
                         ": the artifact has " + has);
  return Status::error("no matching arch: the device is " + device.smName() +
                       "; the artifact has " + has);
}
