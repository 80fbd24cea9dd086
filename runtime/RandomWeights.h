/*===- RandomWeights.h - Seeded weights, the same on host and GPU -*- C -*-===*\
|*                                                                          *|
|* `llama-run --random-weights` binds weights that depend only on a seed and *|
|* each tensor's name, for benchmarking shapes that no checkpoint exists     *|
|* for. Element i of a tensor is a pure function of (key, i), so a GPU fills *|
|* a tensor in parallel where it lives, and the host computes the very same  *|
|* bits for the cpu target. This file is both sides' only copy of that      *|
|* function: the runtime includes it, and the CUDA target pastes it verbatim *|
|* into every artifact's kernel source, fill kernels included.              *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/

#ifndef LLAMAC_RUNTIME_RANDOMWEIGHTS_H
#define LLAMAC_RUNTIME_RANDOMWEIGHTS_H

#if defined(__CUDACC__) || defined(LLAMAC_CUDA_EMULATION)
#define LLAMA_RANDOM_FN static __device__ inline
#elif defined(__cplusplus)
#define LLAMA_RANDOM_FN static inline
#else
#define LLAMA_RANDOM_FN static
#endif

/* How one tensor is filled. Gains (the norms' weights) are all ones, so
   that random models keep unit-scale activations; every other tensor is
   uniform in [-bound, bound), bound = 1 / sqrt(its last dimension). The
   host derives `key` from the seed and the tensor's name. */
typedef struct LlamaRandomFill {
  unsigned long long key;
  long long count;
  float bound;
  int ones;
} LlamaRandomFill;

/* Element `index` of the tensor of `key`: splitmix64's finalizer of the
   index-th step of its sequence, 24 bits of it as a uniform in [0, 1), then
   scaled. Every float operation is exact but the last product, which rounds
   once, so the host and any GPU agree to the bit. */
LLAMA_RANDOM_FN float llamaRandomWeight(unsigned long long key,
                                        unsigned long long index, float bound) {
  unsigned long long z = key + (index + 1ull) * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  float unit = (float)(z >> 40) * (1.0f / 16777216.0f);
  return (2.0f * unit - 1.0f) * bound;
}

/* Element `index` of the tensor `fill` describes. */
LLAMA_RANDOM_FN float llamaRandomFillValue(const LlamaRandomFill *fill,
                                           unsigned long long index) {
  return fill->ones ? 1.0f : llamaRandomWeight(fill->key, index, fill->bound);
}

#if defined(__CUDACC__) || defined(LLAMAC_CUDA_EMULATION)
/* The fill kernels every cuda binary exports, one per element type:
   buffers[0] is the tensor and buffers[1] its LlamaRandomFill, in device
   memory. Any 1-D grid covers the tensor. They need LlamaGpuArgs
   (KernelAbi.h) and the toolkit's f16 and bf16 types, declared first. */
#define LLAMA_DEFINE_RANDOM_FILL(NAME, TYPE, CONVERT)                          \
  extern "C" __global__ void NAME(const __grid_constant__ LlamaGpuArgs args) { \
    TYPE *out = (TYPE *)args.buffers[0];                                       \
    const LlamaRandomFill fill = *(const LlamaRandomFill *)args.buffers[1];    \
    const long long stride = (long long)gridDim.x * blockDim.x;                \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;       \
         i < fill.count; i += stride)                                          \
      out[i] = CONVERT(llamaRandomFillValue(&fill, i));                        \
  }
#define LLAMA_RANDOM_AS_F32(v) (v)
LLAMA_DEFINE_RANDOM_FILL(llama_fill_random_f32, float, LLAMA_RANDOM_AS_F32)
LLAMA_DEFINE_RANDOM_FILL(llama_fill_random_f16, __half, __float2half_rn)
LLAMA_DEFINE_RANDOM_FILL(llama_fill_random_bf16, __nv_bfloat16,
                         __float2bfloat16_rn)
#undef LLAMA_RANDOM_AS_F32
#undef LLAMA_DEFINE_RANDOM_FILL
#endif

#undef LLAMA_RANDOM_FN

#endif /* LLAMAC_RUNTIME_RANDOMWEIGHTS_H */
