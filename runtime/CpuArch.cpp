//===- CpuArch.cpp - Can this CPU run code built for an -march? -----------===//

#include "runtime/CpuArch.h"

#include <utility>
#include <vector>

using namespace llamac::runtime;

namespace {

/// True when the running CPU has `feature` (a __builtin_cpu_supports name).
/// The builtin needs a literal, hence the table.
bool hasFeature(const std::string &feature) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (feature == "sse4.2")
    return __builtin_cpu_supports("sse4.2");
  if (feature == "popcnt")
    return __builtin_cpu_supports("popcnt");
  if (feature == "avx2")
    return __builtin_cpu_supports("avx2");
  if (feature == "fma")
    return __builtin_cpu_supports("fma");
  if (feature == "bmi2")
    return __builtin_cpu_supports("bmi2");
  if (feature == "avx512f")
    return __builtin_cpu_supports("avx512f");
  if (feature == "avx512bw")
    return __builtin_cpu_supports("avx512bw");
  if (feature == "avx512dq")
    return __builtin_cpu_supports("avx512dq");
  if (feature == "avx512vl")
    return __builtin_cpu_supports("avx512vl");
#endif
  (void)feature;
  return false;
}

bool isX86() {
#if defined(__x86_64__)
  return true;
#else
  return false;
#endif
}

} // namespace

CpuArchSupport llamac::runtime::checkCpuArch(const std::string &arch) {
  if (arch == "native")
    return {true, 10, ""};
  // The x86-64 micro-architecture levels, each with the features beyond the
  // previous level that generated code is likely to use.
  static const std::vector<std::pair<std::string, std::vector<std::string>>>
      levels = {
          {"x86-64", {}},
          {"x86-64-v2", {"sse4.2", "popcnt"}},
          {"x86-64-v3", {"avx2", "fma", "bmi2"}},
          {"x86-64-v4", {"avx512f", "avx512bw", "avx512dq", "avx512vl"}},
      };
  for (size_t level = 0; level < levels.size(); ++level) {
    if (levels[level].first != arch)
      continue;
    if (!isX86())
      return {false, 0, "is an x86-64 arch, and this CPU is not x86-64"};
    for (size_t lower = 0; lower <= level; ++lower)
      for (const std::string &feature : levels[lower].second)
        if (!hasFeature(feature))
          return {false, 0, "needs " + feature + ", which this CPU lacks"};
    return {true, int(level) + 2, ""};
  }
  return {false, 0,
          "is not an arch this runtime knows (x86-64, x86-64-v2, x86-64-v3, "
          "x86-64-v4, native)"};
}
