//===- Sampler.h - Next-token sampling, bit-exact with run.c -----*- C++
//-*-===//
//
// The runtime's output is checked against llama2.c's run.c token for token,
// so sampling copies run.c exactly: its xorshift* generator, its float order
// of operations, and its top-p prefilter and sort. Any "improvement" here
// (a better RNG, double accumulation) would change sampled text.
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_RUNTIME_SAMPLER_H
#define LLAMAC_RUNTIME_SAMPLER_H

#include <cstdint>
#include <vector>

namespace llamac::runtime {

/// run.c's random_u32: xorshift* on a 64-bit state, advancing `state`.
uint32_t randomU32(uint64_t &state);
/// run.c's random_f32: uniform in [0, 1) with 24 random bits.
float randomF32(uint64_t &state);

/// run.c's softmax, in place, in f32.
void softmax(float *values, int size);
/// Index of the first maximum.
int sampleArgmax(const float *probabilities, int size);
/// Samples from the whole distribution with `coin` in [0, 1).
int sampleMult(const float *probabilities, int size, float coin);
/// Nucleus sampling: the smallest set of most likely tokens whose mass
/// exceeds `topp`. Candidates below (1 - topp) / (size - 1) are dropped
/// first, as they can never be in the set; ties keep index order (glibc's
/// qsort, which run.c uses, is a stable merge sort for arrays this size).
int sampleTopp(const float *probabilities, int size, float topp, float coin);

class Sampler {
public:
  /// `temperature` 0 means greedy. `topp` outside (0, 1) samples from the
  /// full distribution. run.c replaces a seed of 0 by the time; callers that
  /// want that do it themselves, so runs stay reproducible here.
  Sampler(int vocabSize, float temperature, float topp, uint64_t seed);

  /// The next token. Like run.c, scales and softmaxes `logits` in place
  /// (unless greedy), and draws one random number per non-greedy call.
  int sample(float *logits);

  uint64_t rngState() const { return state; }

private:
  int vocabSize;
  float temperature;
  float topp;
  uint64_t state;
};

} // namespace llamac::runtime

#endif // LLAMAC_RUNTIME_SAMPLER_H
