//===- ModelConfig.h - Llama 2 model hyper-parameters ------------*- C++ -*-===//
//
// The one description of a Llama 2 variant that every stage shares. It is
// plain C++ (no LLVM types) so that the runtime, which must not depend on
// LLVM or MLIR, can carry the same struct inside an artifact.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_FRONTEND_MODELCONFIG_H
#define LLAMAC_FRONTEND_MODELCONFIG_H

#include <cstdint>
#include <string>

namespace llamac {

/// Element type of weights and activations. Kernels always accumulate in f32.
enum class DType { F32, F16, BF16 };

/// Which pairs of a head vector RoPE rotates.
enum class RopeStyle {
  /// Meta's reference code and llama2.c: pairs (2i, 2i+1).
  Adjacent,
  /// Hugging Face transformers: pairs (i, i + head_dim/2), which is why its
  /// converter permutes the rows of wq and wk.
  HalfSplit,
};

struct ModelConfig {
  /// Human-readable name ("llama2-7b", or the file it came from).
  std::string name;
  int64_t dim = 0;
  int64_t nLayers = 0;
  int64_t nHeads = 0;
  int64_t nKvHeads = 0;
  /// Width of the SwiGLU hidden layer (w1/w3 rows, w2 columns).
  int64_t ffnDim = 0;
  int64_t vocabSize = 0;
  /// Longest sequence the KV cache holds.
  int64_t maxSeqLen = 0;
  double ropeTheta = 10000.0;
  double normEps = 1e-5;
  RopeStyle ropeStyle = RopeStyle::Adjacent;
  DType dtype = DType::F32;
  /// True when the LM head reuses the token embedding table (llama2.c's
  /// shared classifier); the artifact then has no separate "output.weight".
  bool sharedClassifier = false;

  int64_t headDim() const { return nHeads ? dim / nHeads : 0; }
  int64_t kvDim() const { return headDim() * nKvHeads; }
  /// Query heads that read each KV head (1 for multi-head attention).
  int64_t queriesPerKvHead() const { return nKvHeads ? nHeads / nKvHeads : 0; }
};

const char *toString(DType type);
const char *toString(RopeStyle style);

/// Checks the invariants every reader and override must preserve. Returns an
/// empty string when the config is valid, otherwise "field: reason".
std::string validate(const ModelConfig &config);

/// Meta's params.json rule for the FFN width:
///   h = 4*dim; h = int(2*h/3); if multiplier: h = int(multiplier*h);
///   h = multipleOf * ceil(h / multipleOf).
/// `ffnDimMultiplier <= 0` means "absent".
int64_t metaFfnDim(int64_t dim, int64_t multipleOf, double ffnDimMultiplier);

} // namespace llamac

#endif // LLAMAC_FRONTEND_MODELCONFIG_H
