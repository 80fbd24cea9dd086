//===- Sampler.cpp - Next-token sampling, bit-exact with run.c ------------===//

#include "runtime/Sampler.h"

#include <algorithm>
#include <cmath>

using namespace llamac::runtime;

uint32_t llamac::runtime::randomU32(uint64_t &state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return uint32_t((state * 0x2545F4914F6CDD1Dull) >> 32);
}

float llamac::runtime::randomF32(uint64_t &state) {
  return float(randomU32(state) >> 8) / 16777216.0f;
}

void llamac::runtime::softmax(float *values, int size) {
  float maxValue = values[0];
  for (int i = 1; i < size; ++i)
    if (values[i] > maxValue)
      maxValue = values[i];
  float sum = 0.0f;
  for (int i = 0; i < size; ++i) {
    values[i] = std::exp(values[i] - maxValue);
    sum += values[i];
  }
  for (int i = 0; i < size; ++i)
    values[i] /= sum;
}

int llamac::runtime::sampleArgmax(const float *probabilities, int size) {
  int maxIndex = 0;
  float maxValue = probabilities[0];
  for (int i = 1; i < size; ++i) {
    if (probabilities[i] > maxValue) {
      maxIndex = i;
      maxValue = probabilities[i];
    }
  }
  return maxIndex;
}

int llamac::runtime::sampleMult(const float *probabilities, int size,
                                float coin) {
  float cdf = 0.0f;
  for (int i = 0; i < size; ++i) {
    cdf += probabilities[i];
    if (coin < cdf)
      return i;
  }
  return size - 1; // In case of rounding errors.
}

namespace {
struct ProbIndex {
  float prob;
  int index;
};
} // namespace

int llamac::runtime::sampleTopp(const float *probabilities, int size,
                                float topp, float coin) {
  std::vector<ProbIndex> candidates;
  const float cutoff = (1.0f - topp) / float(size - 1);
  for (int i = 0; i < size; ++i)
    if (probabilities[i] >= cutoff)
      candidates.push_back({probabilities[i], i});
  std::stable_sort(
      candidates.begin(), candidates.end(),
      [](const ProbIndex &a, const ProbIndex &b) { return a.prob > b.prob; });

  // Nothing passes the cutoff only when topp is tiny and the distribution
  // flat (or size is 1); run.c then reads probindex[-1]. Take the argmax.
  if (candidates.empty())
    return sampleArgmax(probabilities, size);

  const int count = int(candidates.size());
  float cumulative = 0.0f;
  int last = count - 1; // In case of rounding errors consider all.
  for (int i = 0; i < count; ++i) {
    cumulative += candidates[size_t(i)].prob;
    if (cumulative > topp) {
      last = i;
      break;
    }
  }

  float r = coin * cumulative;
  float cdf = 0.0f;
  for (int i = 0; i <= last; ++i) {
    cdf += candidates[size_t(i)].prob;
    if (r < cdf)
      return candidates[size_t(i)].index;
  }
  return candidates[size_t(last)].index; // In case of rounding errors.
}

Sampler::Sampler(int vocabSize, float temperature, float topp, uint64_t seed)
    : vocabSize(vocabSize), temperature(temperature), topp(topp), state(seed) {}

int Sampler::sample(float *logits) {
  if (temperature == 0.0f)
    return sampleArgmax(logits, vocabSize);
  for (int i = 0; i < vocabSize; ++i)
    logits[i] /= temperature;
  softmax(logits, vocabSize);
  float coin = randomF32(state);
  if (topp <= 0 || topp >= 1)
    return sampleMult(logits, vocabSize, coin);
  return sampleTopp(logits, vocabSize, topp, coin);
}
