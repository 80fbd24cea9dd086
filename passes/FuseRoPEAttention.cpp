//===- FuseRoPEAttention.cpp - RoPE + cache write + attention -------------===//

#include "passes/Passes.h"

#include "ir/LlamaOps.h"

#include "mlir/IR/Builders.h"

namespace llamac {
#define GEN_PASS_DEF_FUSEROPEATTENTIONPASS
#include "passes/Passes.h.inc"
} // namespace llamac

using namespace mlir;
using namespace llamac;

namespace {

/// The rope feeding `value` if it is single-use and at `position`.
llama::RoPEOp singleUseRoPE(Value value, Value position) {
  auto rope = value.getDefiningOp<llama::RoPEOp>();
  if (!rope || !value.hasOneUse() || rope.getPosition() != position)
    return {};
  return rope;
}

bool sameRotation(llama::RoPEOp a, llama::RoPEOp b) {
  return a.getHeadDim() == b.getHeadDim() && a.getTheta() == b.getTheta() &&
         a.getStyle() == b.getStyle();
}

/// Every user of `write` other than `attention` comes after it, so the
/// fused op, placed at the attention, still dominates them.
bool usersFollow(llama::KVCacheWriteOp write, Operation *attention) {
  return llvm::all_of(write->getUsers(), [&](Operation *user) {
    return user == attention || (user->getBlock() == attention->getBlock() &&
                                 attention->isBeforeInBlock(user));
  });
}

struct FuseRoPEAttention
    : public llamac::impl::FuseRoPEAttentionPassBase<FuseRoPEAttention> {
  void runOnOperation() override {
    SmallVector<llama::AttentionOp> attentions;
    getOperation().walk(
        [&](llama::AttentionOp op) { attentions.push_back(op); });
    for (llama::AttentionOp attention : attentions)
      fuse(attention);
  }

  void fuse(llama::AttentionOp attention) {
    Value position = attention.getPosition();
    llama::RoPEOp queryRope = singleUseRoPE(attention.getQuery(), position);
    if (!queryRope)
      return;

    auto keyWrite = attention.getKey().getDefiningOp<llama::KVCacheWriteOp>();
    auto valueWrite =
        attention.getValue().getDefiningOp<llama::KVCacheWriteOp>();
    llama::RoPEOp keyRope;
    Value value, keyCache, valueCache;
    if (keyWrite || valueWrite) {
      // One write feeding both keys and values is not the K/V pair the
      // fused op writes; fusing it would also erase that write twice.
      if (!keyWrite || !valueWrite || keyWrite == valueWrite ||
          keyWrite.getPosition() != position ||
          valueWrite.getPosition() != position ||
          !usersFollow(keyWrite, attention) ||
          !usersFollow(valueWrite, attention))
        return;
      keyRope = singleUseRoPE(keyWrite.getValue(), position);
      value = valueWrite.getValue();
      keyCache = keyWrite.getCache();
      valueCache = valueWrite.getCache();
    } else {
      keyRope = singleUseRoPE(attention.getKey(), position);
      value = attention.getValue();
    }
    if (!keyRope || !sameRotation(queryRope, keyRope))
      return;

    OpBuilder builder(attention);
    SmallVector<Type> resultTypes = {attention.getType()};
    if (keyCache)
      resultTypes.append({keyCache.getType(), valueCache.getType()});
    auto fused = builder.create<llama::FusedRoPEAttentionOp>(
        attention.getLoc(), resultTypes, queryRope.getInput(),
        keyRope.getInput(), value, position, keyCache, valueCache,
        queryRope.getHeadDimAttr(), attention.getNumHeadsAttr(),
        attention.getNumKvHeadsAttr(), queryRope.getThetaAttr(),
        queryRope.getStyleAttr(), attention.getScaleAttr());

    attention.getResult().replaceAllUsesWith(fused.getResult(0));
    attention.erase();
    if (keyCache) {
      keyWrite.getResult().replaceAllUsesWith(fused.getResult(1));
      valueWrite.getResult().replaceAllUsesWith(fused.getResult(2));
      keyWrite.erase();
      valueWrite.erase();
    }
    queryRope.erase();
    keyRope.erase();
  }
};

} // namespace
