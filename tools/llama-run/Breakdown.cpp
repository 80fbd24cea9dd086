//===- Breakdown.cpp - Per-kernel time, summed by op and origin -----------===//

#include "Commands.h"

#include "runtime/ArtifactLayout.h"

#include <algorithm>
#include <cstdio>
#include <map>

using namespace llamac;
using namespace llamac::runtime;

void llamac::run::printBreakdown(const char *title,
                                 const artifact::ArtifactSpec &spec,
                                 const std::vector<KernelTime> &profile) {
  struct Row {
    uint64_t calls = 0;
    uint64_t nanoseconds = 0;
  };
  std::map<std::pair<std::string, std::string>, Row> rows;
  uint64_t total = 0;
  for (size_t k = 0; k < spec.kernels.size() && k < profile.size(); ++k) {
    const KernelTime &time = profile[k];
    if (time.calls == 0)
      continue;
    Row &row = rows[{spec.kernels[k].op,
                     artifact::originFamily(spec.kernels[k].origin)}];
    row.calls += time.calls;
    row.nanoseconds += time.nanoseconds;
    total += time.nanoseconds;
  }
  std::vector<std::pair<std::pair<std::string, std::string>, Row>> sorted(
      rows.begin(), rows.end());
  std::stable_sort(sorted.begin(), sorted.end(), [](auto &a, auto &b) {
    return a.second.nanoseconds > b.second.nanoseconds;
  });
  std::printf("\n%s kernels:\n%-28s %-32s %8s %12s %7s\n", title, "op",
              "origin", "calls", "total us", "share");
  for (const auto &[key, row] : sorted)
    std::printf("%-28s %-32s %8llu %12.1f %6.1f%%\n", key.first.c_str(),
                key.second.empty() ? "-" : key.second.c_str(),
                (unsigned long long)row.calls, row.nanoseconds / 1e3,
                total ? 100.0 * double(row.nanoseconds) / double(total) : 0.0);
  std::printf("%-28s %-32s %8s %12.1f %6.1f%%\n", "total", "", "", total / 1e3,
              100.0);
}
