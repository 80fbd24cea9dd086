//===- CpuRoPEEmitter.cpp - RoPE and KV-cache writes ----------------------===//
//
// RoPE follows llama2.c's arithmetic exactly (f32 powf, cosf and sinf of
// position * frequency), so that greedy decoding reproduces its tokens. The
// angle table is per token, shared by every head and by Q and K.
//
//===----------------------------------------------------------------------===//

#include "codegen/cpu/CpuEmitterUtil.h"

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cpu {

void emitRoPETable(raw_ostream &os, int64_t headDim, double theta) {
  int64_t half = headDim / 2;
  // The frequencies depend only on constants: computed on the first call
  // (thread-safe, as a function-local static), where powf on every call
  // cost more than rotating a decode step's heads.
  os << "  static float freq[" << half << "];\n"
     << "  static const bool freqReady = (llamaRopeFrequencies("
     << floatLiteral(theta) << ", " << headDim << ", freq), true);\n"
     << "  (void)freqReady;\n"
     << "  float *__restrict cs = llamaScratch(0, seq * " << headDim << ");\n"
     << "  for (int64_t s = 0; s < seq; ++s) {\n"
     << "    const float p = (float)((int64_t)position + s);\n"
     << "    for (int64_t i = 0; i < " << half << "; ++i) {\n"
     << "      const float val = p * freq[i];\n"
     << "      cs[s * " << headDim << " + i] = cosf(val);\n"
     << "      cs[s * " << headDim << " + " << half << " + i] = sinf(val);\n"
     << "    }\n"
     << "  }\n";
}

void emitRotateHead(raw_ostream &os, StringRef indent, int64_t headDim,
                    RopeStyle style, Elem srcElem, StringRef src, Elem dstElem,
                    StringRef dst, StringRef csRow, bool inverse) {
  int64_t half = headDim / 2;
  // adjacent pairs (2i, 2i + 1); half pairs (i, i + D/2).
  std::string a = style == RopeStyle::Adjacent ? "2 * i" : "i";
  std::string b = style == RopeStyle::Adjacent ? "2 * i + 1"
                                               : "i + " + std::to_string(half);
  os << indent << "for (int64_t i = 0; i < " << half << "; ++i) {\n"
     << indent << "  const float fcr = " << csRow << "[i], fci = " << csRow
     << "[" << half << " + i];\n"
     << indent
     << "  const float v0 = " << load(srcElem, (src + "[" + a + "]").str())
     << ", v1 = " << load(srcElem, (src + "[" + b + "]").str()) << ";\n"
     << indent << "  " << dst << "[" << a << "] = "
     << store(dstElem, inverse ? "v0 * fcr + v1 * fci" : "v0 * fcr - v1 * fci")
     << ";\n"
     << indent << "  " << dst << "[" << b << "] = "
     << store(dstElem, inverse ? "v1 * fcr - v0 * fci" : "v0 * fci + v1 * fcr")
     << ";\n"
     << indent << "}\n";
}

LogicalResult emitRotation(Operation *op, Value input, Value position,
                           int64_t headDim, double theta, RopeStyle style,
                           bool inverse, StringRef symbol, raw_ostream &os) {
  RankedTensorType type = tensorType(input);
  FailureOr<Elem> elem = elemOf(op, input);
  FailureOr<std::string> batch = dimExpr(op, type, 0);
  FailureOr<std::string> seq = dimExpr(op, type, 1);
  FailureOr<int64_t> features = staticDim(op, type, 2);
  if (failed(elem) || failed(batch) || failed(seq) || failed(features))
    return failure();

  emitSignature(os, op, symbol);
  os << "  constexpr int64_t F = " << *features << ", D = " << headDim << ";\n"
     << "  const int64_t batch = " << *batch << ", seq = " << *seq << ";\n"
     << "  const int32_t position = " << positionExpr(position) << ";\n";
  emitBuffer(os, "in", 0, cType(*elem), true);
  emitBuffer(os, "out", 1, cType(*elem), false);
  emitRoPETable(os, headDim, theta);
  os << "  for (int64_t r = 0; r < batch * seq; ++r) {\n"
     << "    const float *row = cs + (r % seq) * D;\n"
     << "    for (int64_t h = 0; h < F / D; ++h) {\n"
     << "      const " << cType(*elem) << " *src = in + r * F + h * D;\n"
     << "      " << cType(*elem) << " *dst = out + r * F + h * D;\n";
  emitRotateHead(os, "      ", headDim, style, *elem, "src", *elem, "dst",
                 "row", inverse);
  os << "    }\n"
     << "  }\n"
     << "}\n";
  return success();
}

LogicalResult emitRoPE(RoPEOp op, StringRef symbol, raw_ostream &os) {
  return emitRotation(op, op.getInput(), op.getPosition(), op.getHeadDim(),
                      op.getTheta().convertToDouble(), op.getStyle(),
                      /*inverse=*/false, symbol, os);
}

LogicalResult emitKVCacheWrite(KVCacheWriteOp op, StringRef symbol,
                               raw_ostream &os) {
  RankedTensorType cache = tensorType(op.getCache());
  RankedTensorType value = tensorType(op.getValue());
  FailureOr<Elem> elem = elemOf(op, op.getCache());
  FailureOr<std::string> batch = dimExpr(op, cache, 0);
  FailureOr<std::string> seq = dimExpr(op, value, 1);
  FailureOr<int64_t> capacity = staticDim(op, cache, 1);
  FailureOr<int64_t> features = staticDim(op, cache, 2);
  if (failed(elem) || failed(batch) || failed(seq) || failed(capacity) ||
      failed(features))
    return failure();

  emitSignature(os, op, symbol);
  os << "  constexpr int64_t CAP = " << *capacity << ", F = " << *features
     << ";\n"
     << "  const int64_t batch = " << *batch << ", seq = " << *seq << ";\n"
     << "  const int32_t position = " << positionExpr(op.getPosition())
     << ";\n";
  StringRef t = cType(*elem);
  os << "  const " << t << " *cache = (const " << t << " *)buffers[0];\n";
  emitBuffer(os, "value", 1, t, true);
  os << "  " << t << " *out = (" << t
     << " *)buffers[2];\n"
     // The result is the cache itself (updated in place); copy only if the
     // caller passed a distinct buffer.
     << "  if ((const void *)out != (const void *)cache)\n"
     << "    memcpy(out, cache, batch * CAP * F * sizeof(*out));\n"
     // Rows past the capacity are dropped rather than written out of bounds.
     << "  int64_t count = seq;\n"
     << "  if ((int64_t)position + count > CAP)\n"
     << "    count = CAP - (int64_t)position;\n"
     << "  if (position < 0 || count <= 0)\n"
     << "    return;\n"
     << "  for (int64_t b = 0; b < batch; ++b)\n"
     << "    memcpy(out + (b * CAP + position) * F, value + b * seq * F,\n"
     << "           count * F * sizeof(*out));\n"
     << "}\n";
  return success();
}

} // namespace llamac::codegen::cpu
