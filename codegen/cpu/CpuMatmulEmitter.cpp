//===- CpuMatmulEmitter.cpp - GEMM kernels: matmul, fused_matmul, packing -===//
//
// y = x · Wᵀ with W stored [N][K]. Every output is a dot product of one W
// row with one activation row; the kernel walks blocks of W rows (parallel
// across threads), and within a block, blocks of activation rows, so that W
// is read from memory once per row block while x stays in cache. Eight f32
// W rows (else four) share each pass over x, which gives the core
// independent accumulators and, for eight, one horizontal reduction for all. The RMSNorm prologue only computes a scale per row: the norm
// commutes with the product, dot(W[n], x / rms) = dot(W[n], x) / rms.
//
//===----------------------------------------------------------------------===//

#include "codegen/cpu/CpuEmitterUtil.h"

#include <algorithm>

using namespace mlir;
using namespace llamac::llama;

namespace llamac::codegen::cpu {
namespace {

/// Everything a GEMM kernel is specialized on.
struct GemmSpec {
  Operation *op = nullptr;
  Elem input = Elem::F32, weight = Elem::F32;
  int64_t k = 0, n = 0;
  std::string rows;
  std::optional<double> epsilon;
  std::optional<Elem> gain;
  std::optional<Elem> residual;
  Epilogue epilogue = Epilogue::None;
  SmallVector<int64_t> segments;
  SmallVector<Elem> results;
};

/// Prints `name = ...;` of a finishing step: scales by the row's RMSNorm and
/// stores to the right result.
void emitFinish(raw_ostream &os, const GemmSpec &spec) {
  StringRef scale = spec.epsilon ? " * scale[r]" : "";
  switch (spec.epilogue) {
  case Epilogue::None: {
    os << "  auto finish = [&](int64_t r, int64_t n, float acc) {\n";
    if (spec.epsilon)
      os << "    acc *= scale[r];\n";
    // Each segment is its own result: columns [offset, offset + size).
    emitSegmentStores(
        os, spec.segments, "n", [&](size_t i, int64_t size, int64_t offset) {
          return "out" + std::to_string(i) + "[r * " + std::to_string(size) +
                 " + (n - " + std::to_string(offset) +
                 ")] = " + store(spec.results[i], "acc") + ";";
        });
    os << "  };\n";
    return;
  }
  case Epilogue::Residual:
    // The residual is read before the output at the same index is written,
    // so the kernel stays correct even if the two were to alias.
    os << "  auto finish = [&](int64_t r, int64_t n, float acc) {\n"
       << "    const float sum = " << load(*spec.residual, "res[r * N + n]")
       << " + acc" << scale << ";\n"
       << "    out0[r * N + n] = " << store(spec.results[0], "sum") << ";\n"
       << "  };\n";
    return;
  case Epilogue::SwiGLU:
    // silu(gate) * up, in llama2.c's order of operations.
    os << "  auto finish = [&](int64_t r, int64_t j, float gate, float up) {\n"
       << "    float val = gate" << scale << ";\n"
       << "    val *= (1.0f / (1.0f + llamaExp(-val)));\n"
       << "    val *= up" << scale << ";\n"
       << "    out0[r * F + j] = " << store(spec.results[0], "val") << ";\n"
       << "  };\n";
    return;
  }
}

/// Whether the kernel takes eight columns at a time (llamaDot8F32): f32
/// weights, and segments that an 8-aligned block of columns never straddles.
bool eightWide(const GemmSpec &spec) {
  if (spec.weight != Elem::F32)
    return false;
  return spec.epilogue != Epilogue::None ||
         llvm::all_of(spec.segments, [](int64_t n) { return n % 8 == 0; });
}

/// Prints `finish8`, which finishes the eight columns [n, n + 8) of row r
/// from acc[8] (gate[8] and up[8] for SwiGLU) in one vectorized loop; the
/// result segment is chosen once for the eight.
void emitFinish8(raw_ostream &os, const GemmSpec &spec) {
  if (spec.epilogue == Epilogue::SwiGLU) {
    os << "  auto finish8 = [&](int64_t r, int64_t j, const float *gate, "
          "const float *up) {\n"
       << "#pragma omp simd\n"
       << "    for (int64_t i = 0; i < 8; ++i)\n"
       << "      finish(r, j + i, gate[i], up[i]);\n"
       << "  };\n";
    return;
  }
  os << "  auto finish8 = [&](int64_t r, int64_t n, const float *acc) {\n";
  if (spec.epilogue == Epilogue::Residual) {
    os << "#pragma omp simd\n"
       << "    for (int64_t i = 0; i < 8; ++i)\n"
       << "      finish(r, n + i, acc[i]);\n"
       << "  };\n";
    return;
  }
  StringRef scale = spec.epsilon ? " * scale[r]" : "";
  int64_t offset = 0;
  for (auto [i, size] : llvm::enumerate(spec.segments)) {
    std::string out = "out" + std::to_string(i);
    bool last = i + 1 == spec.segments.size();
    if (!last)
      os << "    " << (i ? "else " : "") << "if (n < " << offset + size
         << ") {\n";
    else if (i)
      os << "    else {\n";
    else
      os << "    {\n";
    os << "      " << cType(spec.results[i]) << " *__restrict dst = " << out
       << " + r * " << size << " + (n - " << offset << ");\n"
       << "#pragma omp simd\n"
       << "      for (int64_t i = 0; i < 8; ++i)\n"
       << "        dst[i] = "
       << store(spec.results[i], ("acc[i]" + scale).str()) << ";\n"
       << "    }\n";
    offset += size;
  }
  os << "  };\n";
}

void emitGemm(raw_ostream &os, const GemmSpec &spec, StringRef symbol) {
  bool swiglu = spec.epilogue == Epilogue::SwiGLU;
  int64_t columns = swiglu ? spec.n / 2 : spec.n;
  // A block of W rows should stay in L1/L2 while the row blocks pass over
  // it; an activation row block should fit in L2 next to it.
  int64_t columnBytes = spec.k * elemBytes(spec.weight) * (swiglu ? 2 : 1);
  int64_t columnBlock = std::clamp<int64_t>(32768 / columnBytes / 8 * 8, 8, 64);
  int64_t rowBlock = std::max<int64_t>(1, 65536 / (spec.k * 4));
  const char *suffix = helperSuffix(spec.weight);

  emitSignature(os, spec.op, symbol);
  os << "  constexpr int64_t K = " << spec.k << ", N = " << spec.n;
  if (swiglu)
    os << ", F = " << columns;
  os << ";\n  constexpr int64_t NB = " << columnBlock << ", RB = " << rowBlock
     << ";\n  const int64_t rows = " << spec.rows << ";\n";

  unsigned index = 0;
  emitBuffer(os, "in", index++, cType(spec.input), true);
  emitBuffer(os, "w", index++, cType(spec.weight), true);
  if (spec.gain)
    emitBuffer(os, "gain", index++, cType(*spec.gain), true);
  if (spec.residual)
    os << "  const " << cType(*spec.residual) << " *res = (const "
       << cType(*spec.residual) << " *)buffers[" << index++ << "];\n";
  for (auto [i, elem] : llvm::enumerate(spec.results))
    emitBuffer(os, "out" + std::to_string(i), index++, cType(elem), false);

  // The activation rows in f32: the input itself when it already is, else
  // a converted copy (times the gain, when the gain is a separate operand).
  bool copy = spec.input != Elem::F32 || spec.gain;
  if (copy) {
    os << "  float *__restrict xs = llamaScratch(0, rows * K);\n"
       << "  for (int64_t i = 0; i < rows * K; ++i)\n"
       << "    xs[i] = " << load(spec.input, "in[i]") << ";\n";
  }
  StringRef x = copy ? "xs" : "in";
  if (spec.epsilon) {
    os << "  float *__restrict scale = llamaScratch(1, rows);\n"
       << "  for (int64_t r = 0; r < rows; ++r)\n"
       << "    scale[r] = llamaInvRms(" << x << " + r * K, K, "
       << floatLiteral(*spec.epsilon) << ");\n";
  }
  if (spec.gain) {
    os << "  for (int64_t r = 0; r < rows; ++r)\n"
       << "#pragma omp simd\n"
       << "    for (int64_t c = 0; c < K; ++c)\n"
       << "      xs[r * K + c] *= " << load(*spec.gain, "gain[c]") << ";\n";
  }
  os << "  const float *__restrict x = " << x << ";\n";
  emitFinish(os, spec);
  bool wide = eightWide(spec);
  if (wide)
    emitFinish8(os, spec);

  // Swiglu pairs gate row j with up row F + j in the same iteration.
  auto row = [&](StringRef col) {
    return swiglu ? ("w + (F + " + col + ") * K").str()
                  : ("w + (" + col + ") * K").str();
  };
  int64_t step = swiglu ? 2 : 4;
  os << "  auto block = [&](int64_t b) {\n"
     << "    const int64_t c0 = b * NB;\n"
     << "    const int64_t c1 = c0 + NB < " << columns
     << " ? c0 + NB : " << columns << ";\n"
     << "    for (int64_t r0 = 0; r0 < rows; r0 += RB) {\n"
     << "      const int64_t r1 = r0 + RB < rows ? r0 + RB : rows;\n"
     << "      int64_t c = c0;\n";
  if (wide) {
    os << "      for (; c + 8 <= c1; c += 8)\n"
       << "        for (int64_t r = r0; r < r1; ++r) {\n";
    if (swiglu)
      os << "          float gate[8], up[8];\n"
         << "          llamaDot8F32<K>(w + c * K, x + r * K, gate);\n"
         << "          llamaDot8F32<K>(" << row("c") << ", x + r * K, up);\n"
         << "          finish8(r, c, gate, up);\n";
    else
      os << "          float acc[8];\n"
         << "          llamaDot8F32<K>(w + c * K, x + r * K, acc);\n"
         << "          finish8(r, c, acc);\n";
    os << "        }\n";
  }
  os << "      for (; c + " << step << " <= c1; c += " << step << ")\n"
     << "        for (int64_t r = r0; r < r1; ++r) {\n"
     << "          float acc[4];\n";
  if (swiglu) {
    os << "          llamaDot4" << suffix << "(w + c * K, w + (c + 1) * K, "
       << row("c") << ", " << row("c + 1") << ", x + r * K, K, acc);\n"
       << "          finish(r, c, acc[0], acc[2]);\n"
       << "          finish(r, c + 1, acc[1], acc[3]);\n";
  } else {
    os << "          llamaDot4" << suffix
       << "(w + c * K, w + (c + 1) * K, w + (c + 2) * K, w + (c + 3) * K, "
          "x + r * K, K, acc);\n";
    for (int i = 0; i < 4; ++i)
      os << "          finish(r, c + " << i << ", acc[" << i << "]);\n";
  }
  os << "        }\n"
     << "      for (; c < c1; ++c)\n"
     << "        for (int64_t r = r0; r < r1; ++r)\n";
  if (swiglu)
    os << "          finish(r, c, llamaDot" << suffix
       << "(w + c * K, x + r * K, K), llamaDot" << suffix << "(" << row("c")
       << ", x + r * K, K));\n";
  else
    os << "          finish(r, c, llamaDot" << suffix
       << "(w + c * K, x + r * K, K));\n";
  os << "    }\n"
     << "  };\n"
     << "  llamaParallelFor(ctx, (" << columns
     << " + NB - 1) / NB, rows * (N * K), block);\n"
     << "}\n";
}

/// Fills the shapes and element types shared by both GEMM ops.
LogicalResult fillShapes(GemmSpec &spec, Value input, Value weight,
                         ValueRange results) {
  Operation *op = spec.op;
  FailureOr<Elem> in = elemOf(op, input), w = elemOf(op, weight);
  FailureOr<int64_t> n = staticDim(op, tensorType(weight), 0);
  FailureOr<int64_t> k = staticDim(op, tensorType(weight), 1);
  FailureOr<std::string> rows = rowsExpr(op, tensorType(input));
  if (failed(in) || failed(w) || failed(n) || failed(k) || failed(rows))
    return failure();
  spec.input = *in;
  spec.weight = *w;
  spec.n = *n;
  spec.k = *k;
  spec.rows = *rows;
  for (Value result : results) {
    FailureOr<Elem> elem = elemOf(op, result);
    if (failed(elem))
      return failure();
    spec.results.push_back(*elem);
  }
  return success();
}

} // namespace

LogicalResult emitMatmul(MatmulOp op, StringRef symbol, raw_ostream &os) {
  GemmSpec spec;
  spec.op = op;
  if (failed(fillShapes(spec, op.getInput(), op.getWeight(), op->getResults())))
    return failure();
  spec.segments = {spec.n};
  emitGemm(os, spec, symbol);
  return success();
}

LogicalResult emitFusedMatmul(FusedMatmulOp op, StringRef symbol,
                              raw_ostream &os) {
  GemmSpec spec;
  spec.op = op;
  if (failed(fillShapes(spec, op.getInput(), op.getWeight(), op.getResults())))
    return failure();
  if (op.getNormEpsilon())
    spec.epsilon = op.getNormEpsilon()->convertToDouble();
  for (auto [operand, slot] :
       {std::make_pair(op.getGain(), &spec.gain),
        std::make_pair(op.getResidual(), &spec.residual)}) {
    if (!operand)
      continue;
    FailureOr<Elem> elem = elemOf(op, operand);
    if (failed(elem))
      return failure();
    *slot = *elem;
  }
  spec.epilogue = op.getEpilogue();
  spec.segments.assign(op.getSegments().begin(), op.getSegments().end());
  emitGemm(os, spec, symbol);
  return success();
}

LogicalResult emitPackWeights(PackWeightsOp op, StringRef symbol,
                              raw_ostream &os) {
  FailureOr<Elem> elem = elemOf(op, op.getResult());
  FailureOr<int64_t> k = staticDim(op, tensorType(op.getResult()), 1);
  if (failed(elem) || failed(k))
    return failure();
  std::optional<Elem> gain;
  if (Value g = op.getGain()) {
    FailureOr<Elem> gainElem = elemOf(op, g);
    if (failed(gainElem))
      return failure();
    gain = *gainElem;
  }
  SmallVector<int64_t> rows;
  for (Value w : op.getWeights()) {
    FailureOr<int64_t> r = staticDim(op, tensorType(w), 0);
    if (failed(r))
      return failure();
    rows.push_back(*r);
  }

  // Runs once when a checkpoint is bound, so it is written for clarity.
  emitSignature(os, op, symbol);
  os << "  constexpr int64_t K = " << *k << ";\n";
  unsigned index = rows.size() + (gain ? 1 : 0);
  if (gain)
    emitBuffer(os, "gain", rows.size(), cType(*gain), true);
  emitBuffer(os, "out", index, cType(*elem), false);
  int64_t offset = 0;
  for (auto [i, count] : llvm::enumerate(rows)) {
    std::string name = "w" + std::to_string(i);
    os << "  {\n";
    emitBuffer(os, name, i, cType(*elem), true);
    if (!gain) {
      os << "  memcpy(out + " << offset << " * K, " << name << ", " << count
         << " * K * sizeof(*out));\n";
    } else {
      os << "  for (int64_t r = 0; r < " << count << "; ++r)\n"
         << "    for (int64_t c = 0; c < K; ++c)\n"
         << "      out[(" << offset << " + r) * K + c] = "
         << store(*elem, load(*elem, name + "[r * K + c]") + " * " +
                             load(*gain, "gain[c]"))
         << ";\n";
    }
    os << "  }\n";
    offset += count;
  }
  os << "}\n";
  return success();
}

} // namespace llamac::codegen::cpu
