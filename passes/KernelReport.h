//===- KernelReport.h - FLOPs and bytes of every kernel ---------*- C++ -*-===//
//
// A roofline view of a llama module: every llama op is one kernel launch, and
// each kernel reads its operands from and writes its results to memory once.
// Comparing the unfused and fused modules shows what fusion saves.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_PASSES_KERNELREPORT_H
#define LLAMAC_PASSES_KERNELREPORT_H

#include "mlir/IR/BuiltinOps.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <string>
#include <vector>

namespace llamac {

/// The cost of one kernel launch.
struct KernelCost {
  /// The op's name, e.g. "fused_matmul".
  std::string kind;
  /// The ops of the unfused graph it stands for, e.g. "rmsnorm + matmul x3".
  std::string contains;
  /// Where it comes from, e.g. "layers.3.attention".
  std::string origin;
  double flops = 0;
  double bytes = 0;
};

/// The kernels of one entry function, with the tokens it processes.
struct EntryCosts {
  std::string entry;
  int64_t tokens = 0;
  std::vector<KernelCost> kernels;
  /// Weight-only ops (llama.pack_weights) run once at load time, not per call.
  int64_t loadTimeOps = 0;
  double flops() const;
  double bytes() const;
};

/// How many tokens the KV cache holds before the call; attention reads them.
struct CostAssumptions {
  int64_t context = 0;
};

/// The costs of every entry function of `module`. Fails when a shape the
/// costs depend on is dynamic (pass a static --seq-len).
llvm::Expected<std::vector<EntryCosts>>
computeKernelCosts(mlir::ModuleOp module, const CostAssumptions &assumptions);

/// Prints every kernel of `fused`, then totals before (`unfused`) and after
/// fusion and the memory traffic fusion saves per token.
void printKernelReport(const std::vector<EntryCosts> &unfused,
                       const std::vector<EntryCosts> &fused,
                       const CostAssumptions &assumptions,
                       llvm::raw_ostream &os);

} // namespace llamac

#endif // LLAMAC_PASSES_KERNELREPORT_H
