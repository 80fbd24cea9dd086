//===- FuseSwiGLU.cpp - SwiGLU and residual epilogues ---------------------===//

#include "passes/FusedMatmulBuilder.h"
#include "passes/Passes.h"

namespace llamac {
#define GEN_PASS_DEF_FUSESWIGLUPASS
#include "passes/Passes.h.inc"
} // namespace llamac

using namespace mlir;
using namespace llamac;

namespace {

llama::EpilogueAttr epilogue(OpBuilder &b, llama::Epilogue kind) {
  return llama::EpilogueAttr::get(b.getContext(), kind);
}

/// `mul(silu(gate), up)` with the operands in either order; returns
/// {gate, up, silu} or nothing.
std::optional<std::tuple<Value, Value, llama::SiLUOp>>
matchSwiGLU(llama::MulOp mul) {
  for (auto [a, b] : {std::pair(mul.getLhs(), mul.getRhs()),
                      std::pair(mul.getRhs(), mul.getLhs())}) {
    auto silu = a.getDefiningOp<llama::SiLUOp>();
    if (silu && silu->hasOneUse())
      return std::make_tuple(silu.getInput(), b, silu);
  }
  return std::nullopt;
}

/// The gate/up halves are results 0 and 1 of one unfused-epilogue GEMM with
/// two equal segments (the output of llama-fuse-rmsnorm-matmul).
bool fuseFusedGateUp(llama::MulOp mul, Value gate, Value up,
                     llama::SiLUOp silu) {
  auto gemm = gate.getDefiningOp<llama::FusedMatmulOp>();
  if (!gemm || up.getDefiningOp() != gemm.getOperation() ||
      gemm.getEpilogue() != llama::Epilogue::None ||
      gemm.getNumResults() != 2 || gemm.getResult(0) != gate ||
      gemm.getResult(1) != up || !gate.hasOneUse() || !up.hasOneUse())
    return false;
  ArrayRef<int64_t> segments = gemm.getSegments();
  if (segments[0] != segments[1])
    return false;
  OpBuilder builder(gemm);
  auto fused = builder.create<llama::FusedMatmulOp>(
      mul.getLoc(), TypeRange{mul.getType()}, gemm.getInput(),
      gemm.getWeight(), gemm.getGain(), Value(), gemm.getNormEpsilonAttr(),
      gemm.getSegmentsAttr(), epilogue(builder, llama::Epilogue::SwiGLU));
  mul.getResult().replaceAllUsesWith(fused.getResult(0));
  mul.erase();
  silu.erase();
  gemm.erase();
  return true;
}

/// The gate and up are two plain matmuls of one input.
bool fuseMatmulGateUp(llama::MulOp mul, Value gate, Value up,
                      llama::SiLUOp silu) {
  auto gateMm = gate.getDefiningOp<llama::MatmulOp>();
  auto upMm = up.getDefiningOp<llama::MatmulOp>();
  if (!gateMm || !upMm || gateMm == upMm || !gate.hasOneUse() ||
      !up.hasOneUse() || gateMm.getInput() != upMm.getInput() ||
      gateMm.getWeight().getType() != upMm.getWeight().getType() ||
      !haveStaticRows({gateMm.getWeight()}))
    return false;
  // Both matmuls dominate the mul, so building there keeps every operand
  // dominating its use.
  OpBuilder builder(mul);
  auto [packed, rows] = packWeights(
      builder, mul.getLoc(), {gateMm.getWeight(), upMm.getWeight()}, Value());
  auto fused = builder.create<llama::FusedMatmulOp>(
      mul.getLoc(), TypeRange{mul.getType()}, gateMm.getInput(), packed,
      Value(), Value(), FloatAttr(), builder.getDenseI64ArrayAttr(rows),
      epilogue(builder, llama::Epilogue::SwiGLU));
  mul.getResult().replaceAllUsesWith(fused.getResult(0));
  mul.erase();
  silu.erase();
  gateMm.erase();
  upMm.erase();
  return true;
}

/// `add(r, matmul(x, W))` in either order.
bool fuseResidual(llama::AddOp add) {
  for (auto [other, product] : {std::pair(add.getLhs(), add.getRhs()),
                                std::pair(add.getRhs(), add.getLhs())}) {
    auto matmul = product.getDefiningOp<llama::MatmulOp>();
    if (!matmul || !product.hasOneUse() || !haveStaticRows({matmul.getWeight()}))
      continue;
    OpBuilder builder(add);
    int64_t rows =
        cast<RankedTensorType>(matmul.getWeight().getType()).getDimSize(0);
    auto fused = builder.create<llama::FusedMatmulOp>(
        add.getLoc(), TypeRange{add.getType()}, matmul.getInput(),
        matmul.getWeight(), Value(), other, FloatAttr(),
        builder.getDenseI64ArrayAttr({rows}),
        epilogue(builder, llama::Epilogue::Residual));
    add.getResult().replaceAllUsesWith(fused.getResult(0));
    add.erase();
    matmul.erase();
    return true;
  }
  return false;
}

struct FuseSwiGLU : public llamac::impl::FuseSwiGLUPassBase<FuseSwiGLU> {
  void runOnOperation() override {
    SmallVector<llama::MulOp> muls;
    SmallVector<llama::AddOp> adds;
    getOperation().walk([&](Operation *op) {
      if (auto mul = dyn_cast<llama::MulOp>(op))
        muls.push_back(mul);
      else if (auto add = dyn_cast<llama::AddOp>(op))
        adds.push_back(add);
    });
    for (llama::MulOp mul : muls) {
      auto match = matchSwiGLU(mul);
      if (!match)
        continue;
      auto [gate, up, silu] = *match;
      if (!fuseFusedGateUp(mul, gate, up, silu))
        fuseMatmulGateUp(mul, gate, up, silu);
    }
    for (llama::AddOp add : adds)
      fuseResidual(add);
  }
};

} // namespace
