//===- CudaEmulationTest.cpp - The kernel emulator's own semantics --------===//
//
// Small CUDA kernels compiled by `llama-cuda-emu --source` and launched
// through llamaEmuLaunch directly: shuffles and block reductions, ldmatrix
// feeding mma.sync against a plain matrix product (the fragment layouts of
// the two must compose to it, as the PTX ISA defines them), wgmma on
// 128-byte swizzled tiles in dynamic shared memory against the same
// product, cp.async's and wgmma's deferred completion, a TMA pipeline on
// mbarriers in both of LLAMAC_EMU_TMA's modes, named barriers and
// setmaxnreg in a warp-specialized block, thread-block clusters (a TMA
// pipeline multicasting into both CTAs of a cluster, released by remote
// mbarrier arrivals), the fake driver's tensor map encoder and cluster
// launches, and the errors a GPU would hang or trap on.
//
//===----------------------------------------------------------------------===//

#include "runtime/CudaApi.h"
#include "runtime/HalfFloat.h"
#include "runtime/KernelAbi.h"
#include "runtime/RandomWeights.h"
#include "test/cuda-emu/EmulatedTensorMap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <fstream>
#include <iterator>
#include <string>
#include <unistd.h>
#include <vector>

namespace cu = llamac::runtime::cu;
using llamac::runtime::bf16ToF32;
using llamac::runtime::f32ToBf16;
using llamac::runtime::f32ToF16;
using testing::HasSubstr;

namespace {

using Kernel = void (*)(LlamaGpuArgs);
using Launch = int (*)(Kernel, const unsigned *, const unsigned *,
                       const unsigned *, unsigned, const LlamaGpuArgs *, char *,
                       size_t);
/// All the dynamic shared memory the emulator has, which the tests' kernels
/// get unless a test says otherwise.
constexpr unsigned kAllShared = 227 * 1024;

/// The kernels every test launches, compiled once.
const char *const kKernels = R"CUDA(
#include "runtime/KernelAbi.h"
#include "runtime/RandomWeights.h"

/* out[t] = sum over t's warp of (t + 1), by a butterfly; out[256 + t] = the
   block's sum, through shared memory. */
extern "C" __global__ void sums(LlamaGpuArgs args) {
  float *out = (float *)args.buffers[0];
  __shared__ float perWarp[8];
  const int t = threadIdx.x;
  float v = (float)(t + 1);
  for (int o = 16; o > 0; o /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  out[t] = v;
  if (t % 32 == 0)
    perWarp[t / 32] = v;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < 8; ++w)
    total += perWarp[w];
  out[256 + t] = total;
}

/* One warp: D (16x8, f32) = A (16x16, row-major bf16) * B, loaded from
   shared memory by ldmatrix.x4 as the tensor-core kernels do. Without
   Trans, B is given as 8x16 row-major [n][k] (B's rows are the mma's "col"
   operand, as the GEMM's weights and attention's keys are stored); with
   Trans, as 16x8 row-major [k][n] (as attention's values are), reaching the
   mma through ldmatrix.x4.trans. */
template <bool Trans> __device__ void mmaOf(LlamaGpuArgs args) {
  const unsigned short *a = (const unsigned short *)args.buffers[0];
  const unsigned short *b = (const unsigned short *)args.buffers[1];
  float *d = (float *)args.buffers[2];
  __shared__ __align__(16) unsigned short as[16][16];
  __shared__ __align__(16) unsigned short bs[16][16];
  const int lane = threadIdx.x;
  for (int i = lane; i < 256; i += 32) {
    as[i / 16][i % 16] = a[i];
    if (Trans)
      bs[i / 16][i % 16] = i % 16 < 8 ? b[(i / 16) * 8 + i % 16] : 0;
    else
      bs[i / 16][i % 16] = i < 128 ? b[i] : 0;
  }
  __syncthreads();
  unsigned af[4], r[4];
  // A: matrices (rows 0-7, k 0-7), (rows 8-15, k 0-7), (0-7, 8-15), (8-15,
  // 8-15): lane l names row l % 16 at k (l / 16) * 8.
  llamaLdmatrixX4(af, llamaSmemAddress(&as[lane % 16][(lane / 16) * 8]));
  if (Trans) // (k 0-7, n 0-7), (k 8-15, n 0-7), then n 8-15 (zero here).
    llamaLdmatrixX4Trans(r, llamaSmemAddress(&bs[((lane / 8) % 2) * 8 +
                                                 lane % 8][(lane / 16) * 8]));
  else // (n 0-7, k 0-7), (n 0-7, k 8-15), then n 8-15 (zero here).
    llamaLdmatrixX4(r, llamaSmemAddress(&bs[(lane / 16) * 8 + lane % 8]
                                           [((lane / 8) % 2) * 8]));
  const unsigned bf[2] = {r[0], r[1]};
  float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  llamaMma16816<__nv_bfloat16>(acc, af, bf);
  const int g = lane / 4, t = lane % 4;
  d[g * 8 + 2 * t] = acc[0];
  d[g * 8 + 2 * t + 1] = acc[1];
  d[(g + 8) * 8 + 2 * t] = acc[2];
  d[(g + 8) * 8 + 2 * t + 1] = acc[3];
}
extern "C" __global__ void mma(LlamaGpuArgs args) { mmaOf<false>(args); }
extern "C" __global__ void mmaTrans(LlamaGpuArgs args) { mmaOf<true>(args); }

/* One warp: D (16x8) = A (16x8, f32 row-major) * B (8x8, [n][k]) with
   mma.m16n8k8 in tf32, its fragments read as the TF32 GEMM tiles read
   them: d[0, 128) from one product of the operands rounded to tf32,
   d[128, 256) from 3xTF32's three (llamaTf32Operands' split, inlined here),
   d[256, 384) from one product of the f32 bits unconverted. */
extern "C" __global__ void mmaTf32(LlamaGpuArgs args) {
  const float *a = (const float *)args.buffers[0];
  const float *b = (const float *)args.buffers[1];
  float *d = (float *)args.buffers[2];
  const int lane = threadIdx.x, g = lane / 4, t = lane % 4;
  unsigned aBig[4], aSmall[4], aRaw[4], bBig[2], bSmall[2], bRaw[2];
  for (int r = 0; r < 4; ++r) {
    const float v = a[(g + 8 * (r % 2)) * 8 + t + 4 * (r / 2)];
    aRaw[r] = __float_as_uint(v);
    aBig[r] = llamaToTf32(v);
    aSmall[r] = llamaToTf32(v - __uint_as_float(aBig[r]));
  }
  for (int r = 0; r < 2; ++r) {
    const float v = b[g * 8 + t + 4 * r];
    bRaw[r] = __float_as_uint(v);
    bBig[r] = llamaToTf32(v);
    bSmall[r] = llamaToTf32(v - __uint_as_float(bBig[r]));
  }
  float one[4] = {}, three[4] = {}, raw[4] = {};
  llamaMma1688Tf32(one, aBig, bBig);
  llamaMma1688Tf32(three, aSmall, bBig);
  llamaMma1688Tf32(three, aBig, bSmall);
  llamaMma1688Tf32(three, aBig, bBig);
  llamaMma1688Tf32(raw, aRaw, bRaw);
  for (int e = 0; e < 4; ++e) {
    const int at = (g + 8 * (e / 2)) * 8 + 2 * t + e % 2;
    d[at] = one[e];
    d[128 + at] = three[e];
    d[256 + at] = raw[e];
  }
}

/* out[i] = the bits of in[i] rounded to tf32 (cvt.rna.tf32.f32). */
extern "C" __global__ void toTf32(LlamaGpuArgs args) {
  const float *in = (const float *)args.buffers[0];
  unsigned *out = (unsigned *)args.buffers[1];
  out[threadIdx.x] = llamaToTf32(in[threadIdx.x]);
}

/* d[row][column] (64 x N) from this thread's accumulators of a
   wgmma.m64nNk16, in the PTX ISA's layout. */
template <int N>
__device__ void storeWgmmaAccumulators(float *d, const float (&acc)[N / 2]) {
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  for (int i = 0; i < N / 2; ++i) {
    const int row = 16 * warp + lane / 4 + 8 * ((i / 2) % 2);
    const int col = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
    d[row * N + col] = acc[i];
  }
}

/* One warpgroup: D (64xN, f32) = A (64x32) * B (Nx32)^T, both bf16
   row-major in global memory, staged in dynamic shared memory as tiles of
   128-byte rows (k 0-63, zero past 32) whose 16-byte chunks are XOR-ed
   with row % 8: A at 0, B at 8192. Two wgmma.m64nNk16 (k 0-15, then
   16-31, 32 bytes further) into accumulators that start as garbage: the
   first overwrites them. out[64 * N] is accumulator 0 of thread 0 read
   between the commit and the wait, while the products are in flight. */
template <int N>
__device__ void wgmmaOf(LlamaGpuArgs args, unsigned long long swizzle) {
  const unsigned short *a = (const unsigned short *)args.buffers[0];
  const unsigned short *b = (const unsigned short *)args.buffers[1];
  float *d = (float *)args.buffers[2];
  LLAMA_DYNAMIC_SHARED(smem);
  const int t = threadIdx.x;
  for (int i = t; i < (64 + N) * 64; i += 128) {
    const int row = i / 64, k = i % 64;
    const bool isA = row < 64;
    const int r = isA ? row : row - 64;
    unsigned short v = 0;
    if (k < 32)
      v = isA ? a[r * 32 + k] : b[r * 32 + k];
    const int offset =
        (isA ? 0 : 8192) + r * 128 + (((k / 8) ^ (r % 8)) << 4) + (k % 8) * 2;
    *(unsigned short *)(smem + offset) = v;
  }
  __syncthreads();
  auto descriptor = [&](unsigned address) {
    return (unsigned long long)(address >> 4) | (1ull << 16) |
           (64ull << 32) | (swizzle << 62);
  };
  float acc[N / 2];
  for (int i = 0; i < N / 2; ++i)
    acc[i] = -1.0f;
  auto product = [&](unsigned a, unsigned b, int accumulate) {
    if constexpr (N == 128)
      llamaWgmma64x128<__nv_bfloat16>(acc, descriptor(a), descriptor(b),
                                      accumulate);
    else
      llamaWgmma64x256<__nv_bfloat16>(acc, descriptor(a), descriptor(b),
                                      accumulate);
  };
  product(0, 8192, 0);
  product(32, 8192 + 32, 1);
  llamaWgmmaCommit();
  const float early = acc[0];
  llamaWgmmaWait<0>();
  storeWgmmaAccumulators<N>(d, acc);
  if (t == 0)
    d[64 * N] = early;
}
extern "C" __global__ void wgmma(LlamaGpuArgs args) { wgmmaOf<128>(args, 1); }
extern "C" __global__ void wgmma256(LlamaGpuArgs args) {
  wgmmaOf<256>(args, 1);
}
extern "C" __global__ void wgmmaUnswizzled(LlamaGpuArgs args) {
  wgmmaOf<128>(args, 0);
}

/* The descriptor of an MN-major tile at `address` of shared memory: groups
   of 64 columns 4096 bytes apart (the leading offset), 8 rows 1024 apart
   (the stride offset), the 128-byte swizzle. */
__device__ unsigned long long mnMajorDescriptor(unsigned address) {
  return (unsigned long long)(address >> 4) | (256ull << 16) | (64ull << 32) |
         (1ull << 62);
}

/* The same product from transposed (MN-major) tiles: a is [32 k][64 m] and
   b [32 k][128 n], bf16 row-major; shared memory holds one 128-byte row
   per k, chunks XOR-ed with k % 8: A at 0, B's columns 0-63 at 8192 and
   64-127 at 8192 + 4096 (the leading offset). The second wgmma starts 16
   rows (2048 bytes) further. */
extern "C" __global__ void wgmmaTransposed(LlamaGpuArgs args) {
  const unsigned short *a = (const unsigned short *)args.buffers[0];
  const unsigned short *b = (const unsigned short *)args.buffers[1];
  float *d = (float *)args.buffers[2];
  LLAMA_DYNAMIC_SHARED(smem);
  const int t = threadIdx.x;
  for (int i = t; i < 32 * (64 + 128); i += 128) {
    const int k = i / 192, j = i % 192;
    const bool isA = j < 64;
    const int mn = isA ? j : j - 64;
    const int offset = (isA ? 0 : 8192 + (mn / 64) * 4096) + k * 128 +
                       ((((mn % 64) / 8) ^ (k % 8)) << 4) + (mn % 8) * 2;
    *(unsigned short *)(smem + offset) = isA ? a[k * 64 + mn] : b[k * 128 + mn];
  }
  __syncthreads();
  float acc[64];
  for (int s = 0; s < 2; ++s)
    llamaWgmma64x128<__nv_bfloat16, 1, 1>(acc, mnMajorDescriptor(s * 2048),
                                          mnMajorDescriptor(8192 + s * 2048), s);
  llamaWgmmaCommit();
  llamaWgmmaWait<0>();
  storeWgmmaAccumulators<128>(d, acc);
}

/* A from registers: a is [64 m][32 k] bf16 row-major in global memory,
   b as wgmmaTransposed's ([32 k][128 n], MN-major in shared memory). Warp
   w holds rows 16 w to 16 w + 15 of A as mma.m16n8k16's A fragments:
   register r of lane l is row l / 4 + 8 (r % 2), k 2 (l % 4) + 8 (r / 2)
   and the next. */
extern "C" __global__ void wgmmaRegisterA(LlamaGpuArgs args) {
  const unsigned short *a = (const unsigned short *)args.buffers[0];
  const unsigned short *b = (const unsigned short *)args.buffers[1];
  float *d = (float *)args.buffers[2];
  LLAMA_DYNAMIC_SHARED(smem);
  const int t = threadIdx.x, warp = t / 32, lane = t % 32;
  for (int i = t; i < 32 * 128; i += 128) {
    const int k = i / 128, n = i % 128;
    const int offset = 8192 + (n / 64) * 4096 + k * 128 +
                       ((((n % 64) / 8) ^ (k % 8)) << 4) + (n % 8) * 2;
    *(unsigned short *)(smem + offset) = b[k * 128 + n];
  }
  __syncthreads();
  float acc[64];
  for (int s = 0; s < 2; ++s) {
    unsigned frag[4];
    for (int r = 0; r < 4; ++r) {
      const int row = 16 * warp + lane / 4 + 8 * (r % 2);
      const int k = 16 * s + 2 * (lane % 4) + 8 * (r / 2);
      frag[r] = unsigned(a[row * 32 + k]) | unsigned(a[row * 32 + k + 1]) << 16;
    }
    llamaWgmma64x128RegisterA<__nv_bfloat16, 1>(
        acc, frag, mnMajorDescriptor(8192 + s * 2048), s);
  }
  llamaWgmmaCommit();
  llamaWgmmaWait<0>();
  storeWgmmaAccumulators<128>(d, acc);
}

/* Thread 0 copies 16 bytes with cp.async and reads the destination before
   and after waiting for it. */
extern "C" __global__ void copyWait(LlamaGpuArgs args) {
  const float *in = (const float *)args.buffers[0];
  float *out = (float *)args.buffers[1];
  __shared__ __align__(16) float tile[4];
  tile[0] = -1.0f;
  llamaCpAsync16(llamaSmemAddress(tile), in, 16);
  llamaCpAsyncCommit();
  out[0] = tile[0];
  llamaCpAsyncWait<0>();
  out[1] = tile[0];
}

/* A 16-byte access 8 bytes off a multiple of 16, which a GPU faults on:
   cp.async (*buffers[1] == 0), ldmatrix (1), or an aligned cp.async (2). */
extern "C" __global__ void misalignedAccess(LlamaGpuArgs args) {
  const float *in = (const float *)args.buffers[0];
  const int which = *(const int *)args.buffers[1];
  __shared__ __align__(16) float tile[16];
  if (which == 1) {
    unsigned r[4];
    llamaLdmatrixX4(r, llamaSmemAddress(tile + 2));
    return;
  }
  if (threadIdx.x == 0)
    llamaCpAsync16(llamaSmemAddress(tile + (which == 0 ? 2 : 4)), in, 16);
  llamaCpAsyncCommit();
  llamaCpAsyncWait<0>();
}

/* Half a warp shuffles while the other half returns. */
extern "C" __global__ void shuffleWithExitedLanes(LlamaGpuArgs args) {
  if (threadIdx.x >= 16)
    return;
  float v = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
  ((float *)args.buffers[0])[threadIdx.x] = v;
}

/* Lane 31 (run last) writes out[0] alone, then __syncwarp; every lane
   reads it.
   *buffers[1] != 0 asks for half a warp's mask instead, not emulated. */
extern "C" __global__ void syncwarpThenRead(LlamaGpuArgs args) {
  float *out = (float *)args.buffers[0];
  const bool partial = *(const int *)args.buffers[1] != 0;
  if (threadIdx.x == 31)
    out[0] = 7.0f;
  __syncwarp(partial ? 0xffffu : 0xffffffffu);
  out[1 + threadIdx.x] = out[0];
}

/* A write-after-read race: each thread reads its right neighbour's slot
   (the last thread its own) and then overwrites its own slot with no
   barrier between, so a neighbour run earlier has already overwritten what
   a thread reads. Run in index order every read comes first; last first,
   thread t reads thread t + 1's new value. */
extern "C" __global__ void overwriteBeforeNeighbourReads(LlamaGpuArgs args) {
  float *out = (float *)args.buffers[0];
  LLAMA_DYNAMIC_SHARED(smem);
  float *slots = (float *)smem;
  const int t = threadIdx.x, last = blockDim.x - 1;
  slots[t] = (float)t;
  __syncthreads();
  const float neighbour = slots[t < last ? t + 1 : t];
  slots[t] = 100.0f + t; // a __syncthreads() belongs before this
  __syncthreads();
  out[t] = neighbour;
}

/* Block 0 writes dynamic shared memory, block 1 reads it unwritten. */
extern "C" __global__ void readUnwrittenShared(LlamaGpuArgs args) {
  float *out = (float *)args.buffers[0];
  LLAMA_DYNAMIC_SHARED(smem);
  float *slots = (float *)smem;
  if (blockIdx.x == 0)
    slots[threadIdx.x] = 1.0f;
  else
    out[threadIdx.x] = slots[threadIdx.x];
}

/* Half a warp waits at a shuffle, the other half at __syncthreads. */
extern "C" __global__ void divergentBarrier(LlamaGpuArgs args) {
  if (threadIdx.x < 16)
    ((float *)args.buffers[0])[0] = __shfl_xor_sync(0xffffffffu, 1.0f, 1);
  else
    __syncthreads();
}

/* A warp-specialized block: warp 3 gives registers back (setmaxnreg) and
   leaves, warps 0-2 take more; warp 2 writes out[0], and bar.sync 1 over
   counts[warp] threads orders that before every thread's read (warps run
   in order here, so without it warps 0 and 1 would read first). */
extern "C" __global__ void namedBarrier(LlamaGpuArgs args) {
  float *out = (float *)args.buffers[0];
  const int *counts = (const int *)args.buffers[1];
  const int warp = threadIdx.x / 32;
  if (warp == 3) {
    llamaRegistersDecrease<40>();
    return;
  }
  llamaRegistersIncrease<232>();
  if (threadIdx.x == 64)
    out[0] = 7.0f;
  llamaNamedBarrierSync<1>(counts[warp]);
  out[1 + threadIdx.x] = out[0];
}

/* Warps 0 and 1 take turns, as the wgmma attention's warpgroups do: warp
   g waits at named barrier 4 + g (64 threads) for the other's bar.arrive,
   appends g to out, and passes the turn. Warp 1 passes first, and after
   its last turn only if buffers[1][1] is 1. buffers[1][0]: turns each. */
extern "C" __global__ void pingPong(LlamaGpuArgs args) {
  int *out = (int *)args.buffers[0];
  const int *settings = (const int *)args.buffers[1];
  const int turns = settings[0], passLast = settings[1];
  __shared__ int next;
  const int warp = threadIdx.x / 32;
  if (threadIdx.x == 0)
    next = 0;
  __syncthreads();
  auto awaitTurn = [&] {
    if (warp == 0)
      llamaNamedBarrierSync<4>(64);
    else
      llamaNamedBarrierSync<5>(64);
  };
  auto passTurn = [&] {
    if (warp == 0)
      llamaNamedBarrierArrive<5>(64);
    else
      llamaNamedBarrierArrive<4>(64);
  };
  if (warp == 1)
    passTurn();
  for (int turn = 0; turn < turns; ++turn) {
    awaitTurn();
    if (threadIdx.x % 32 == 0)
      out[next++] = warp;
    __syncwarp();
    if (warp == 0 || turn + 1 < turns || passLast)
      passTurn();
  }
}

extern "C" __global__ void oddRegisterCount(LlamaGpuArgs) {
  llamaRegistersIncrease<100>();
}

extern "C" __global__ void traps(LlamaGpuArgs args) {
  if (threadIdx.x == 5)
    __trap();
}

/* A TMA pipeline over tensorMaps[0] (64 x 32 boxes of 16-bit elements):
   thread 256 loads box i, whose first element is at (coords[2 i],
   coords[2 i + 1]), into stage i % 3 of dynamic shared memory, and threads
   0-255 copy the stage's bytes as they lie (swizzled) to out[4096 i ...].
   full[s] completes on the producer's arrival and the box's bytes,
   empty[s] on the 256 consumers' arrivals. */
extern "C" __global__ void tmaPipeline(const __grid_constant__ LlamaGpuArgs args) {
  enum { kStages = 3, kStageBytes = 64 * 32 * 2 };
  unsigned char *out = (unsigned char *)args.buffers[0];
  const int *coords = (const int *)args.buffers[1];
  const int tiles = *(const int *)args.buffers[2];
  LLAMA_DYNAMIC_SHARED(smem);
  __shared__ __align__(8) unsigned long long full[kStages], empty[kStages];
  const int t = threadIdx.x;
  if (t == 0) {
    for (int s = 0; s < kStages; ++s) {
      llamaMbarrierInit(llamaSmemAddress(&full[s]), 1);
      llamaMbarrierInit(llamaSmemAddress(&empty[s]), 256);
    }
    llamaFenceMbarrierInit();
  }
  __syncthreads();
  if (t == 256) {
    for (int i = 0; i < tiles; ++i) {
      const int s = i % kStages;
      if (i >= kStages)
        llamaMbarrierWait(llamaSmemAddress(&empty[s]), (i / kStages - 1) % 2);
      llamaMbarrierArriveExpectTx(llamaSmemAddress(&full[s]), kStageBytes);
      llamaTmaLoad2d(llamaSmemAddress(smem + s * kStageBytes),
                     &args.tensorMaps[0], coords[2 * i], coords[2 * i + 1],
                     llamaSmemAddress(&full[s]));
    }
  } else if (t < 256) {
    for (int i = 0; i < tiles; ++i) {
      const int s = i % kStages;
      llamaMbarrierWait(llamaSmemAddress(&full[s]), (i / kStages) % 2);
      for (int b = 16 * t; b < 16 * (t + 1); ++b)
        out[i * kStageBytes + b] = smem[s * kStageBytes + b];
      llamaMbarrierArrive(llamaSmemAddress(&empty[s]));
    }
  }
}

/* Thread 0 loads box (0, 0) of tensorMaps[0] (4096 bytes) over a stage of
   0xff bytes and reads its first element before waiting on the box's
   mbarrier (out[0]), a consumer's bug, and after (out[1]). */
extern "C" __global__ void tmaReadBeforeWait(
    const __grid_constant__ LlamaGpuArgs args) {
  unsigned short *out = (unsigned short *)args.buffers[0];
  LLAMA_DYNAMIC_SHARED(smem);
  __shared__ __align__(8) unsigned long long full;
  const unsigned bar = llamaSmemAddress(&full);
  for (int i = 0; i < 4096; ++i)
    smem[i] = 0xff;
  llamaMbarrierInit(bar, 1);
  llamaMbarrierArriveExpectTx(bar, 4096);
  llamaTmaLoad2d(llamaSmemAddress(smem), &args.tensorMaps[0], 0, 0, bar);
  out[0] = *(const unsigned short *)smem;
  llamaMbarrierWait(bar, 0);
  out[1] = *(const unsigned short *)smem;
}

/* Issues and commits the calling warpgroup's wgmma.m64n128k16 (bf16) of
   A at 0 and B at 8192 of dynamic shared memory (swizzled, K-major) into
   `acc`, without waiting for it. */
__device__ void issueProductAt0And8192(float (&acc)[64]) {
  auto descriptor = [](unsigned address) {
    return (unsigned long long)(address >> 4) | (1ull << 16) |
           (64ull << 32) | (1ull << 62);
  };
  for (int i = 0; i < 64; ++i)
    acc[i] = 0.0f;
  llamaWgmma64x128<__nv_bfloat16>(acc, descriptor(0), descriptor(8192), 0);
  llamaWgmmaCommit();
}

/* One warpgroup issues a wgmma reading A at 0 and B at 8192 of dynamic
   shared memory; before it retires, thread 0 loads box (0, 0) of
   tensorMaps[0] over B's first rows, which the product may still read. */
extern "C" __global__ void tmaOverPendingWgmma(
    const __grid_constant__ LlamaGpuArgs args) {
  LLAMA_DYNAMIC_SHARED(smem);
  __shared__ __align__(8) unsigned long long full;
  const unsigned bar = llamaSmemAddress(&full);
  if (threadIdx.x == 0)
    llamaMbarrierInit(bar, 1);
  __syncthreads();
  float acc[64];
  issueProductAt0And8192(acc);
  if (threadIdx.x == 0) {
    llamaMbarrierArriveExpectTx(bar, 4096);
    llamaTmaLoad2d(llamaSmemAddress(smem) + 8192, &args.tensorMaps[0], 0, 0,
                   bar);
    llamaMbarrierWait(bar, 0);
  }
  llamaWgmmaWait<0>();
}

/* Warpgroup 1 issues a wgmma reading B at 8192 of dynamic shared memory
   and releases B's stage before retiring it (thread 128 arrives on
   `empty`, a consumer's bug); thread 0, the producer, already waits on
   `empty`, then loads box (0, 0) of tensorMaps[0] over B. */
extern "C" __global__ void releaseBeforeRetire(
    const __grid_constant__ LlamaGpuArgs args) {
  LLAMA_DYNAMIC_SHARED(smem);
  __shared__ __align__(8) unsigned long long empty, full;
  const unsigned emptyBar = llamaSmemAddress(&empty),
                 fullBar = llamaSmemAddress(&full);
  if (threadIdx.x == 0) {
    llamaMbarrierInit(emptyBar, 1);
    llamaMbarrierInit(fullBar, 1);
  }
  __syncthreads();
  if (threadIdx.x < 128) {
    if (threadIdx.x == 0) {
      llamaMbarrierWait(emptyBar, 0);
      llamaMbarrierArriveExpectTx(fullBar, 4096);
      llamaTmaLoad2d(llamaSmemAddress(smem) + 8192, &args.tensorMaps[0], 0, 0,
                     fullBar);
      llamaMbarrierWait(fullBar, 0);
    }
    return;
  }
  float acc[64];
  issueProductAt0And8192(acc);
  if (threadIdx.x == 128)
    llamaMbarrierArrive(emptyBar);
  llamaWgmmaWait<0>();
}

/* Thread 0 loads box (0, 0) of tensorMaps[0] and exits without waiting. */
extern "C" __global__ void tmaWithoutWait(
    const __grid_constant__ LlamaGpuArgs args) {
  LLAMA_DYNAMIC_SHARED(smem);
  __shared__ __align__(8) unsigned long long full;
  const unsigned bar = llamaSmemAddress(&full);
  llamaMbarrierInit(bar, 1);
  llamaMbarrierArriveExpectTx(bar, 4096);
  llamaTmaLoad2d(llamaSmemAddress(smem), &args.tensorMaps[0], 0, 0, bar);
}

/* Thread 0 waits for a phase that expects two arrivals and gets one, after
   writing the mbarrier's shared address to out[0]; the others exit. */
extern "C" __global__ void mbarrierNeverCompletes(
    const __grid_constant__ LlamaGpuArgs args) {
  __shared__ __align__(8) unsigned long long done;
  if (threadIdx.x != 0)
    return;
  const unsigned bar = llamaSmemAddress(&done);
  *(unsigned *)args.buffers[0] = bar;
  llamaMbarrierInit(bar, 2);
  llamaMbarrierArrive(bar);
  llamaMbarrierWait(bar, 0);
}

/* *buffers[0] == 0: an arrival on a barrier never initialized; 1: an
   arrival once the phase's only one came (its bytes have not). */
extern "C" __global__ void mbarrierMisuse(
    const __grid_constant__ LlamaGpuArgs args) {
  __shared__ __align__(8) unsigned long long misused;
  const unsigned bar = llamaSmemAddress(&misused);
  if (*(const int *)args.buffers[0] == 1) {
    llamaMbarrierInit(bar, 1);
    llamaMbarrierArriveExpectTx(bar, 16);
  }
  llamaMbarrierArrive(bar);
}
/* Thread-block clusters in the sm_90a GEMM's pattern, over tensorMaps[0]
   (64 x 32 boxes of 16-bit elements, 4096 bytes each). Stage s of dynamic
   shared memory holds, from 1024 + 12288 s, the CTA's own box, then a
   pair of boxes shared by its cluster, box r loaded by rank r and
   multicast to both CTAs; full[s] and empty[s] are mbarriers at 8 s and
   8 (3 + s). For each step i, thread 64 (the loader) waits until stage
   i % 3 is empty (released by both CTAs' consumers), then loads its own
   box and its half of the pair; warps 0 and 1 (the consumers) wait until
   it is full, copy its bytes as they lie to out[12288 (steps blockIdx.x +
   i) ...] and release it in every CTA of the cluster. The origins of the
   boxes: buffers[1] holds each block's, 2 ints per step, buffers[2] each
   cluster's pairs, 4 per step. buffers[3] = {steps, tail}: with tail 0 the
   loader exits after its last load, without waiting for its last stages
   to be released (the producer tail). */
extern "C" __global__ void clusterPipeline(
    const __grid_constant__ LlamaGpuArgs args) {
  enum {
    kStages = 3,
    kBoxBytes = 64 * 32 * 2,
    kStageBytes = 3 * kBoxBytes,
    kConsumerWarps = 2
  };
  unsigned char *out = (unsigned char *)args.buffers[0];
  const int *own = (const int *)args.buffers[1];
  const int *pairs = (const int *)args.buffers[2];
  const int steps = ((const int *)args.buffers[3])[0];
  const int tail = ((const int *)args.buffers[3])[1];
  LLAMA_DYNAMIC_SHARED(smem);
  const unsigned base = llamaSmemAddress(smem);
  auto full = [&](int s) { return base + 8u * s; };
  auto empty = [&](int s) { return base + 8u * (kStages + s); };
  auto stage = [&](int s) { return base + 1024u + unsigned(s) * kStageBytes; };
  const unsigned rank = llamaClusterRank(), size = llamaClusterSize();
  const int t = threadIdx.x, block = blockIdx.x, cluster = block / size;
  if (t == 0) {
    for (int s = 0; s < kStages; ++s) {
      llamaMbarrierInit(full(s), 1);
      llamaMbarrierInit(empty(s), kConsumerWarps * size);
    }
    llamaFenceMbarrierInit();
  }
  llamaClusterSync();
  if (t == 64) {
    for (int i = 0; i < steps; ++i) {
      const int s = i % kStages;
      if (i >= kStages)
        llamaMbarrierWait(empty(s), (i / kStages - 1) % 2);
      llamaMbarrierArriveExpectTx(full(s), kBoxBytes * (1 + size));
      const int *box = own + 2 * (steps * block + i);
      llamaTmaLoad2d(stage(s), &args.tensorMaps[0], box[0], box[1], full(s));
      const int *half = pairs + 2 * (size * (steps * cluster + i) + rank);
      llamaTmaLoad2dMulticast(stage(s) + kBoxBytes * (1 + rank),
                              &args.tensorMaps[0], half[0], half[1], full(s),
                              (unsigned short)((1u << size) - 1));
    }
    if (tail)
      for (int i = steps > kStages ? steps - kStages : 0; i < steps; ++i)
        llamaMbarrierWait(empty(i % kStages), (i / kStages) % 2);
  } else if (t < 32 * kConsumerWarps) {
    for (int i = 0; i < steps; ++i) {
      const int s = i % kStages;
      llamaMbarrierWait(full(s), (i / kStages) % 2);
      const uint4 *from = (const uint4 *)(smem + 1024 + s * kStageBytes);
      uint4 *to = (uint4 *)(out + (size_t)kStageBytes * (steps * block + i));
      for (int c = t; c < kStageBytes / 16; c += 32 * kConsumerWarps)
        to[c] = from[c];
      __syncwarp();
      if (t % 32 == 0)
        for (unsigned r = 0; r < size; ++r)
          llamaMbarrierArriveCluster(empty(s), r);
    }
  }
}

/* Thread 0 of each block stores 1000 + blockIdx.x at the start of its
   dynamic shared memory; after the cluster synchronizes, each thread t
   writes out[5 (blockDim.x blockIdx.x + t) ...] = {blockIdx.x, its rank,
   the cluster's size, the word as it reads it, the word's shared
   address}. */
extern "C" __global__ void clusterIdentity(LlamaGpuArgs args) {
  unsigned *out = (unsigned *)args.buffers[0];
  LLAMA_DYNAMIC_SHARED(smem);
  unsigned *word = (unsigned *)smem;
  if (threadIdx.x == 0)
    *word = 1000 + blockIdx.x;
  llamaClusterSync();
  unsigned *mine = out + 5 * (blockDim.x * blockIdx.x + threadIdx.x);
  mine[0] = blockIdx.x;
  mine[1] = llamaClusterRank();
  mine[2] = llamaClusterSize();
  mine[3] = *word;
  mine[4] = llamaSmemAddress(word);
}

/* Each CTA initializes an mbarrier at the start of its dynamic shared
   memory, and rank 0 another 8 bytes on; after the cluster synchronizes,
   thread 0 of rank 1 waits on its own, and thread 0 of rank 0 misuses the
   cluster as *buffers[0] says: 0 multicasts a box of tensorMaps[0] to ranks
   0 and 2 of a 2-CTA cluster, 1 arrives on rank 2's mbarrier, 2 arrives on
   the second mbarrier of rank 1, which has none there. */
extern "C" __global__ void clusterMisuse(
    const __grid_constant__ LlamaGpuArgs args) {
  const int mode = *(const int *)args.buffers[0];
  LLAMA_DYNAMIC_SHARED(smem);
  const unsigned bar = llamaSmemAddress(smem), other = bar + 8;
  if (threadIdx.x == 0) {
    llamaMbarrierInit(bar, 1);
    if (llamaClusterRank() == 0)
      llamaMbarrierInit(other, 1);
  }
  llamaClusterSync();
  if (threadIdx.x != 0)
    return;
  if (llamaClusterRank() == 1) {
    llamaMbarrierWait(bar, 0);
  } else if (mode == 0) {
    llamaMbarrierArriveExpectTx(bar, 4096);
    llamaTmaLoad2dMulticast(bar + 1024, &args.tensorMaps[0], 0, 0, bar, 0x5);
  } else {
    llamaMbarrierArriveCluster(mode == 1 ? bar : other, mode == 1 ? 2 : 1);
  }
}

/* Rank 1's warpgroup issues a wgmma reading A at 0 and B at 8192 of its
   dynamic shared memory; before it retires, thread 0 of rank 0 multicasts
   box (0, 0) of tensorMaps[0] to both CTAs, over B's first rows in rank
   1. */
extern "C" __global__ void multicastOverPendingWgmma(
    const __grid_constant__ LlamaGpuArgs args) {
  LLAMA_DYNAMIC_SHARED(smem);
  const unsigned bar = llamaSmemAddress(smem) + 32768;
  if (threadIdx.x == 0)
    llamaMbarrierInit(bar, 1);
  llamaClusterSync();
  float acc[64];
  if (llamaClusterRank() == 1)
    issueProductAt0And8192(acc);
  llamaClusterSync();
  if (llamaClusterRank() == 1) {
    llamaWgmmaWait<0>();
  } else if (threadIdx.x == 0) {
    llamaMbarrierArriveExpectTx(bar, 4096);
    llamaTmaLoad2dMulticast(llamaSmemAddress(smem) + 8192, &args.tensorMaps[0],
                            0, 0, bar, 0x3);
    llamaMbarrierWait(bar, 0);
  }
}

/* Every thread synchronizes the cluster, except thread 3 of rank 1 when
   *buffers[0] is 1 (it waits at __syncthreads instead) or 2 (it exits). */
extern "C" __global__ void clusterSyncSkipped(LlamaGpuArgs args) {
  const int mode = *(const int *)args.buffers[0];
  if (llamaClusterRank() == 1 && threadIdx.x == 3 && mode != 0) {
    if (mode == 1)
      __syncthreads();
    return;
  }
  llamaClusterSync();
}
)CUDA";

class CudaEmulationTest : public testing::Test {
public:
  static void SetUpTestSuite() {
    // ctest runs each test in its own process, in parallel.
    std::string stem =
        testing::TempDir() + "/emulation-test-" + std::to_string(getpid());
    std::string source = stem + ".cu";
    library = stem + ".so";
    std::ofstream(source) << kKernels;
    std::string command = std::string(LLAMA_CUDA_EMU_PATH) + " --source " +
                          source + " -o " + library;
    if (std::system(command.c_str()) != 0)
      setupError = "compiling the test kernels failed: " + command;
    else if (!(handle = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL)))
      setupError = dlerror();
    else
      image.assign(std::istreambuf_iterator<char>(
                       std::ifstream(library, std::ios::binary).rdbuf()),
                   std::istreambuf_iterator<char>());
    std::remove(source.c_str());
    std::remove(library.c_str());
  }
  /// A failure in SetUpTestSuite would mark every test skipped, which
  /// ctest counts as a pass: each test fails on it instead.
  void SetUp() override { ASSERT_EQ(setupError, ""); }
  static void TearDownTestSuite() {
    if (handle)
      dlclose(handle);
    handle = nullptr;
  }

  /// The TMA mode and the order are the process's environment: each test
  /// leaves them unset.
  void TearDown() override {
    unsetenv("LLAMAC_EMU_TMA");
    unsetenv("LLAMAC_EMU_ORDER");
  }

  /// Launches kernel `name` on `grid` x `block` with `sharedBytes` of
  /// dynamic shared memory, in clusters of `cluster` blocks (along x, or
  /// as given); returns "" or the error.
  std::string launch(const char *name, unsigned grid, unsigned block,
                     std::vector<void *> buffers,
                     const std::vector<LlamaGpuTensorMap> &tensorMaps = {},
                     unsigned sharedBytes = kAllShared,
                     std::array<unsigned, 3> cluster = {1, 1, 1}) {
    auto kernel = reinterpret_cast<Kernel>(dlsym(handle, name));
    auto run = reinterpret_cast<Launch>(dlsym(handle, "llamaEmuLaunch"));
    EXPECT_TRUE(kernel && run);
    LlamaGpuArgs args = {};
    for (size_t i = 0; i < buffers.size(); ++i)
      args.buffers[i] = buffers[i];
    for (size_t i = 0; i < tensorMaps.size(); ++i)
      args.tensorMaps[i] = tensorMaps[i];
    const unsigned grid3[3] = {grid, 1, 1}, block3[3] = {block, 1, 1};
    char error[1024] = "";
    if (run(kernel, grid3, block3, cluster.data(), sharedBytes, &args, error,
            sizeof(error)) != 0)
      return error[0] ? error : "failed without a message";
    return "";
  }

  static inline std::string library, setupError;
  static inline void *handle = nullptr;
  /// The kernels' shared object, a "cubin" for the fake driver.
  static inline std::vector<char> image;
};

/// The GPU's random weights (RandomWeights.h's fill kernels, which every
/// cuda artifact embeds) are the host's to the bit, in every element type,
/// whatever the grid: a grid-stride loop over 1000 elements by 3 x 64
/// threads visits some elements on a thread's sixth pass.
TEST_F(CudaEmulationTest, RandomWeightFillsMatchTheHostBitForBit) {
  const LlamaRandomFill fill{0x243f6a8885a308d3ull, 1000, 0.0625f, 0};
  std::vector<float> host(1000);
  for (size_t i = 0; i < host.size(); ++i)
    host[i] = llamaRandomWeight(fill.key, i, fill.bound);
  std::vector<float> f32(1000, -7.0f);
  ASSERT_EQ(launch("llama_fill_random_f32", 3, 64,
                   {f32.data(), const_cast<LlamaRandomFill *>(&fill)}),
            "");
  EXPECT_EQ(f32, host);
  std::vector<uint16_t> bf16(1000), f16(1000);
  ASSERT_EQ(launch("llama_fill_random_bf16", 3, 64,
                   {bf16.data(), const_cast<LlamaRandomFill *>(&fill)}),
            "");
  ASSERT_EQ(launch("llama_fill_random_f16", 3, 64,
                   {f16.data(), const_cast<LlamaRandomFill *>(&fill)}),
            "");
  for (size_t i = 0; i < host.size(); ++i) {
    EXPECT_EQ(bf16[i], f32ToBf16(host[i])) << "element " << i;
    EXPECT_EQ(f16[i], f32ToF16(host[i])) << "element " << i;
  }
  // Gains are ones.
  const LlamaRandomFill gains{fill.key, 5, fill.bound, 1};
  std::vector<float> ones(6, -7.0f);
  ASSERT_EQ(launch("llama_fill_random_f32", 1, 32,
                   {ones.data(), const_cast<LlamaRandomFill *>(&gains)}),
            "");
  EXPECT_EQ(ones, (std::vector<float>{1, 1, 1, 1, 1, -7}));
}

TEST_F(CudaEmulationTest, ShufflesAndBlockReductions) {
  std::vector<float> out(512, 0.0f);
  ASSERT_EQ(launch("sums", 1, 256, {out.data()}), "");
  for (int t = 0; t < 256; ++t) {
    int first = t / 32 * 32 + 1;
    EXPECT_EQ(out[t], float(32 * first + 31 * 32 / 2)) << "thread " << t;
    EXPECT_EQ(out[256 + t], float(256 * 257 / 2)) << "thread " << t;
  }
}

/// Runs `kernel` (mma or mmaTrans) on bf16 operands and expects exactly the
/// plain product; B is 8x16 [n][k] for mma, 16x8 [k][n] for mmaTrans.
void expectMatrixProduct(CudaEmulationTest &test, const char *kernel,
                         bool bIsKByN) {
  std::vector<uint16_t> a(256), b(128);
  std::vector<float> af(256), bf(128);
  for (int i = 0; i < 256; ++i) {
    a[i] = f32ToBf16(float((i * 7) % 23 - 11) / 8.0f);
    af[i] = bf16ToF32(a[i]);
  }
  for (int i = 0; i < 128; ++i) {
    b[i] = f32ToBf16(float((i * 5) % 19 - 9) / 4.0f);
    bf[i] = bf16ToF32(b[i]);
  }
  std::vector<float> d(128, 0.0f);
  ASSERT_EQ(test.launch(kernel, 1, 32, {a.data(), b.data(), d.data()}), "");
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      float expected = 0.0f;
      for (int k = 0; k < 16; ++k)
        expected += af[m * 16 + k] * bf[bIsKByN ? k * 8 + n : n * 16 + k];
      EXPECT_EQ(d[m * 8 + n], expected)
          << kernel << ": row " << m << " column " << n;
    }
}

TEST_F(CudaEmulationTest, LdmatrixAndMmaComposeToTheMatrixProduct) {
  expectMatrixProduct(*this, "mma", /*bIsKByN=*/false);
}

TEST_F(CudaEmulationTest, TransposedLdmatrixGivesRowMajorBToMma) {
  expectMatrixProduct(*this, "mmaTrans", /*bIsKByN=*/true);
}

/// cvt.rna.tf32.f32 keeps 10 bits of mantissa, rounding to nearest with
/// ties away from zero.
TEST_F(CudaEmulationTest, Tf32RoundsToNearestWithTiesAway) {
  const float ulp = std::ldexp(1.0f, -10), half = ulp / 2;
  std::vector<float> in = {1.0f + half,
                           -(1.0f + half),
                           1.0f + half * 0.99f,
                           1.0f + ulp + half * 1.01f,
                           3.0f,
                           INFINITY};
  std::vector<unsigned> out(in.size());
  ASSERT_EQ(launch("toTf32", 1, unsigned(in.size()), {in.data(), out.data()}),
            "");
  std::vector<float> rounded;
  for (unsigned bits : out) {
    float f;
    std::memcpy(&f, &bits, 4);
    rounded.push_back(f);
  }
  EXPECT_EQ(rounded, (std::vector<float>{1.0f + ulp, -(1.0f + ulp), 1.0f,
                                         1.0f + 2 * ulp, 3.0f, INFINITY}));
}

/// mma.m16n8k8's tf32 fragments compose to the matrix product: one product
/// of tf32-rounded operands is exactly the product of the rounded values
/// (each product is exact in f32), 3xTF32 is within f32's rounding of the
/// exact product where one tf32 product is not, and f32 bits handed over
/// unconverted lose their low 13 bits, as on the tensor cores.
TEST_F(CudaEmulationTest, Tf32MmaAndTheThreeProductSplit) {
  std::vector<float> a(128), b(64);
  for (int i = 0; i < 128; ++i)
    a[i] = float((i * 37) % 101 - 50) / 7.0f;
  for (int i = 0; i < 64; ++i)
    b[i] = float((i * 53) % 89 - 44) / 11.0f;
  std::vector<float> d(384, 0.0f);
  ASSERT_EQ(launch("mmaTf32", 1, 32, {a.data(), b.data(), d.data()}), "");
  auto bits = [](float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    return u;
  };
  auto fromBits = [](uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  };
  auto rna = [&](float f) { return fromBits((bits(f) + 0x1000u) & ~0x1fffu); };
  auto truncated = [&](float f) { return fromBits(bits(f) & ~0x1fffu); };
  double worstOne = 0.0, worstThree = 0.0;
  for (int m = 0; m < 16; ++m)
    for (int n = 0; n < 8; ++n) {
      float one = 0.0f, raw = 0.0f;
      double exact = 0.0, magnitude = 0.0;
      for (int k = 0; k < 8; ++k) {
        const float x = a[m * 8 + k], y = b[n * 8 + k];
        one += rna(x) * rna(y);
        raw += truncated(x) * truncated(y);
        exact += double(x) * double(y);
        magnitude += std::fabs(double(x) * double(y));
      }
      EXPECT_EQ(d[m * 8 + n], one) << "row " << m << " column " << n;
      EXPECT_EQ(d[256 + m * 8 + n], raw) << "row " << m << " column " << n;
      worstOne =
          std::max(worstOne, std::fabs(d[m * 8 + n] - exact) / magnitude);
      worstThree = std::max(worstThree,
                            std::fabs(d[128 + m * 8 + n] - exact) / magnitude);
    }
  EXPECT_LT(worstThree, 1e-6);
  EXPECT_GT(worstOne, 1e-5);
}

/// Fills the wgmma tests' bf16 operands with eighths (a) and quarters (b),
/// small enough that every sum of their products is exact in f32, and
/// their values as floats.
void fillWgmmaOperands(std::vector<uint16_t> &a, std::vector<float> &af,
                       std::vector<uint16_t> &b, std::vector<float> &bf) {
  af.resize(a.size());
  bf.resize(b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a[i] = f32ToBf16(float(int(i * 7) % 23 - 11) / 8.0f);
    af[i] = bf16ToF32(a[i]);
  }
  for (size_t i = 0; i < b.size(); ++i) {
    b[i] = f32ToBf16(float(int(i * 5) % 19 - 9) / 4.0f);
    bf[i] = bf16ToF32(b[i]);
  }
}

/// Expects d (64 x n, row-major) to be the product of A(m, k) and B(k, c)
/// over k < 32, exactly: sums of products of eighths and quarters this
/// small are exact in f32.
template <typename A, typename B>
void expectWgmmaProduct(const std::vector<float> &d, int n, A aAt, B bAt) {
  for (int m = 0; m < 64; ++m)
    for (int c = 0; c < n; ++c) {
      float expected = 0.0f;
      for (int k = 0; k < 32; ++k)
        expected += aAt(m, k) * bAt(k, c);
      ASSERT_EQ(d[m * n + c], expected) << "row " << m << " column " << c;
    }
}

/// The descriptors' 128-byte swizzle and the accumulator layout of
/// wgmma.m64n128k16 and m64n256k16 compose to the plain product of the
/// tiles; the accumulators change only at wgmma.wait_group.
TEST_F(CudaEmulationTest, WgmmaOnSwizzledTilesIsTheMatrixProduct) {
  for (int n : {128, 256}) {
    SCOPED_TRACE("m64n" + std::to_string(n) + "k16");
    std::vector<uint16_t> a(64 * 32), b(size_t(n) * 32);
    std::vector<float> af, bf;
    fillWgmmaOperands(a, af, b, bf);
    std::vector<float> d(64 * n + 1, 0.0f);
    ASSERT_EQ(launch(n == 128 ? "wgmma" : "wgmma256", 1, 128,
                     {a.data(), b.data(), d.data()}),
              "");
    expectWgmmaProduct(
        d, n, [&](int m, int k) { return af[m * 32 + k]; },
        [&](int k, int c) { return bf[c * 32 + k]; });
    EXPECT_EQ(d[64 * n], -1.0f) << "read before wgmma.wait_group";
  }
}

/// Runs `kernel`, an m64n128k16 product over k < 32 whose B is transposed
/// (one 128-element row per k), on the wgmma operands, and expects the
/// product, A's element (m, k) being element aIndex(m, k) of a.
template <typename AIndex>
void expectProductOfTransposedB(CudaEmulationTest &test, const char *kernel,
                                AIndex aIndex) {
  std::vector<uint16_t> a(64 * 32), b(32 * 128);
  std::vector<float> af, bf;
  fillWgmmaOperands(a, af, b, bf);
  std::vector<float> d(64 * 128, 0.0f);
  ASSERT_EQ(test.launch(kernel, 1, 128, {a.data(), b.data(), d.data()}), "");
  expectWgmmaProduct(
      d, 128, [&](int m, int k) { return af[aIndex(m, k)]; },
      [&](int k, int n) { return bf[k * 128 + n]; });
}

/// Transposed operands (imm-trans-a/b = 1): one 128-byte row per k, the
/// next 64 of M or N a leading offset on.
TEST_F(CudaEmulationTest, WgmmaOnMNMajorTilesIsTheMatrixProduct) {
  expectProductOfTransposedB(*this, "wgmmaTransposed",
                             [](int m, int k) { return k * 64 + m; });
}

/// A in registers (flash attention's P V): each warp's 16 rows as
/// mma.sync's A fragments, B transposed from shared memory.
TEST_F(CudaEmulationTest, WgmmaWithAInRegistersIsTheMatrixProduct) {
  expectProductOfTransposedB(*this, "wgmmaRegisterA",
                             [](int m, int k) { return m * 32 + k; });
}

TEST_F(CudaEmulationTest, WgmmaWithoutTheSwizzleIsNotEmulated) {
  std::vector<uint16_t> a(64 * 32, 0), b(128 * 32, 0);
  std::vector<float> d(64 * 128 + 1, 0.0f);
  EXPECT_THAT(launch("wgmmaUnswizzled", 1, 128, {a.data(), b.data(), d.data()}),
              HasSubstr("wgmma: A's swizzle mode 0 (only the 128-byte "
                        "swizzle, 1, is emulated) in thread 0"));
}

TEST_F(CudaEmulationTest, CpAsyncLandsOnlyAtItsWait) {
  std::vector<float> in = {3.0f, 4.0f, 5.0f, 6.0f}, out(2, 0.0f);
  ASSERT_EQ(launch("copyWait", 1, 1, {in.data(), out.data()}), "");
  EXPECT_EQ(out[0], -1.0f);
  EXPECT_EQ(out[1], 3.0f);
}

TEST_F(CudaEmulationTest, MisalignedVectorAccessesTrap) {
  std::vector<float> in(4, 1.0f);
  int which = 0;
  EXPECT_THAT(launch("misalignedAccess", 1, 32, {in.data(), &which}),
              HasSubstr("misaligned address: a 16-byte access"));
  which = 1;
  EXPECT_THAT(launch("misalignedAccess", 1, 32, {in.data(), &which}),
              HasSubstr("misaligned address: a 16-byte access"));
  which = 2;
  EXPECT_EQ(launch("misalignedAccess", 1, 32, {in.data(), &which}), "");
}

TEST_F(CudaEmulationTest, ShuffleWithExitedLanesFails) {
  std::vector<float> out(32, 0.0f);
  EXPECT_THAT(launch("shuffleWithExitedLanes", 1, 32, {out.data()}),
              HasSubstr("warp 0: a warp collective with exited lanes"));
}

TEST_F(CudaEmulationTest, SyncwarpOrdersTheWarpsLanes) {
  std::vector<float> out(33, 0.0f);
  int partial = 0;
  ASSERT_EQ(launch("syncwarpThenRead", 1, 32, {out.data(), &partial}), "");
  EXPECT_EQ(out, std::vector<float>(33, 7.0f));
  partial = 1;
  EXPECT_THAT(launch("syncwarpThenRead", 1, 32, {out.data(), &partial}),
              HasSubstr("__syncwarp with a partial mask (not emulated)"));
}

/// The race shows only in one of the two orders: run every kernel both
/// ways to catch a missing barrier whichever way it goes.
TEST_F(CudaEmulationTest, ReverseOrderRevealsARaceForwardOrderHides) {
  const unsigned threads = 64;
  std::vector<float> out(threads, 0.0f);
  ASSERT_EQ(launch("overwriteBeforeNeighbourReads", 1, threads, {out.data()}),
            "");
  for (unsigned t = 0; t < threads; ++t)
    EXPECT_EQ(out[t], float(std::min(t + 1, threads - 1))) << "thread " << t;
  setenv("LLAMAC_EMU_ORDER", "reverse", 1);
  ASSERT_EQ(launch("overwriteBeforeNeighbourReads", 1, threads, {out.data()}),
            "");
  for (unsigned t = 0; t + 1 < threads; ++t)
    EXPECT_EQ(out[t], 100.0f + float(t + 1)) << "thread " << t;
  EXPECT_EQ(out[threads - 1], float(threads - 1));
  setenv("LLAMAC_EMU_ORDER", "sideways", 1);
  EXPECT_THAT(launch("overwriteBeforeNeighbourReads", 1, threads, {out.data()}),
              HasSubstr("LLAMAC_EMU_ORDER=sideways: expected 'forward'"));
}

/// Every block's dynamic shared memory starts as NaNs, whichever block ran
/// before it in either order.
TEST_F(CudaEmulationTest, UnwrittenSharedMemoryReadsAsNaN) {
  for (const char *order : {"forward", "reverse"}) {
    SCOPED_TRACE(std::string("LLAMAC_EMU_ORDER=") + order);
    setenv("LLAMAC_EMU_ORDER", order, 1);
    std::vector<float> out(32, 0.0f);
    ASSERT_EQ(launch("readUnwrittenShared", 2, 32, {out.data()}), "");
    for (float v : out)
      EXPECT_TRUE(std::isnan(v)) << v;
  }
}

TEST_F(CudaEmulationTest, DivergentBarriersAreADeadlock) {
  std::vector<float> out(1, 0.0f);
  std::string error = launch("divergentBarrier", 1, 32, {out.data()});
  EXPECT_THAT(error, HasSubstr("block (0, 0, 0): deadlock"));
  EXPECT_THAT(error, HasSubstr("threads 0-15: __shfl_xor_sync #1"));
  EXPECT_THAT(error, HasSubstr("threads 16-31: __syncthreads #1"));
}

TEST_F(CudaEmulationTest, NamedBarriersSynchronizeTheirCountOfThreads) {
  std::vector<float> out(97, 0.0f);
  std::vector<int> counts = {96, 96, 96};
  ASSERT_EQ(launch("namedBarrier", 1, 128, {out.data(), counts.data()}), "");
  EXPECT_EQ(out, std::vector<float>(97, 7.0f));

  counts = {96, 64, 96};
  EXPECT_THAT(launch("namedBarrier", 1, 128, {out.data(), counts.data()}),
              HasSubstr("bar.sync 1: threads wait with different counts"));

  // Warp 3 has left, so 128 threads never arrive.
  counts = {128, 128, 128};
  std::string error =
      launch("namedBarrier", 1, 128, {out.data(), counts.data()});
  EXPECT_THAT(error, HasSubstr("block (0, 0, 0): deadlock"));
  EXPECT_THAT(error, HasSubstr("threads 0-95: bar.sync 1, 128"));
  EXPECT_THAT(error, HasSubstr("threads 96-127: exited"));

  counts = {96, 96, 100};
  EXPECT_THAT(launch("namedBarrier", 1, 128, {out.data(), counts.data()}),
              HasSubstr("not whole warps of the block"));
}

/// bar.arrive counts toward a named barrier without waiting, so two warps
/// can hand a turn back and forth; arrivals that no bar.sync completes
/// fail the launch when the block exits.
TEST_F(CudaEmulationTest, BarArriveHandsTurnsBetweenWarps) {
  std::vector<int> out(6, -1), settings = {3, 0};
  ASSERT_EQ(launch("pingPong", 1, 64, {out.data(), settings.data()}), "");
  EXPECT_EQ(out, (std::vector<int>{0, 1, 0, 1, 0, 1}));
  settings = {3, 1};
  EXPECT_THAT(launch("pingPong", 1, 64, {out.data(), settings.data()}),
              HasSubstr("exit with 32 arrivals (bar.arrive) at named "
                        "barrier 4 that no bar.sync completed"));
}

TEST_F(CudaEmulationTest, SetmaxnregTakesMultiplesOf8From24To256) {
  EXPECT_THAT(launch("oddRegisterCount", 1, 128, {}),
              HasSubstr("setmaxnreg with a count outside 24-256"));
}

TEST_F(CudaEmulationTest, TrapFailsTheLaunchAndTheNextOneRuns) {
  EXPECT_THAT(launch("traps", 2, 64, {}),
              HasSubstr("block (0, 0, 0): __trap() in thread 5"));
  std::vector<float> out(512, 0.0f);
  EXPECT_EQ(launch("sums", 1, 256, {out.data()}), "");
  EXPECT_EQ(out[256], float(256 * 257 / 2));
}

/// A rows x columns bf16 matrix whose elements are all distinct from zero,
/// the out-of-bounds fill.
struct TmaMatrix {
  static constexpr int kRows = 100, kColumns = 200;
  std::vector<uint16_t> elements;

  TmaMatrix() : elements(kRows * kColumns) {
    for (int r = 0; r < kRows; ++r)
      for (int c = 0; c < kColumns; ++c)
        elements[r * kColumns + c] =
            f32ToBf16(float(1 + (r * 37 + c * 11) % 251));
  }

  /// Its map for boxes of 64 x 32 elements (128-byte rows).
  LlamaGpuTensorMap map(int swizzle) {
    LlamaGpuTensorMap map;
    const uint64_t dims[2] = {kColumns, kRows}, strides[1] = {kColumns * 2};
    const uint32_t box[2] = {64, 32}, elementStrides[2] = {1, 1};
    EXPECT_EQ(llamaEmuEncodeTiled(&map, /*BFLOAT16=*/9, 2, elements.data(),
                                  dims, strides, box, elementStrides, 0,
                                  swizzle, 0, 0),
              0);
    return map;
  }

  /// Element (x, y), zero outside.
  uint16_t at(int x, int y) const {
    if (x < 0 || x >= kColumns || y < 0 || y >= kRows)
      return 0;
    return elements[y * kColumns + x];
  }
};

/// The first elements of the boxes the pipeline loads: interior ones, ones
/// at negative coordinates, partial last ones and wholly outside ones, 18 in
/// all, so that each of the 3 stages is refilled 5 times.
std::vector<int> tmaBoxes() {
  std::vector<int> coords;
  for (int row : {-8, 24, 56, 88})
    for (int inner : {-16, 48, 112, 176})
      coords.insert(coords.end(), {inner, row});
  coords.insert(coords.end(), {256, 0, 0, -40});
  return coords;
}

/// Runs tmaPipeline over the matrix and expects each box element by
/// element where TMA puts it: row r at 128 r, element e at 2 e, and with
/// the 128-byte swizzle its 16-byte chunk XOR-ed with r % 8 (address bits
/// 7-9 of a 1024-byte aligned stage).
void expectTmaPipeline(CudaEmulationTest &test, int swizzle) {
  TmaMatrix matrix;
  std::vector<int> coords = tmaBoxes();
  int tiles = int(coords.size() / 2);
  std::vector<uint8_t> out(size_t(tiles) * 4096, 0xee);
  ASSERT_EQ(test.launch("tmaPipeline", 2, 288,
                        {out.data(), coords.data(), &tiles},
                        {matrix.map(swizzle)}),
            "");
  for (int i = 0; i < tiles; ++i)
    for (int r = 0; r < 32; ++r)
      for (int e = 0; e < 64; ++e) {
        unsigned offset = r * 128 + e * 2;
        if (swizzle == 3)
          offset ^= ((offset >> 7) & 7) << 4;
        uint16_t got;
        std::memcpy(&got, &out[size_t(i) * 4096 + offset], 2);
        ASSERT_EQ(got, matrix.at(coords[2 * i] + e, coords[2 * i + 1] + r))
            << "box " << i << " at (" << coords[2 * i] << ", "
            << coords[2 * i + 1] << "), row " << r << ", element " << e;
      }
}

TEST_F(CudaEmulationTest, TmaPipelineOnMbarriersLoadsSwizzledBoxes) {
  for (const char *mode : {"issue", "wait"}) {
    SCOPED_TRACE(std::string("LLAMAC_EMU_TMA=") + mode);
    setenv("LLAMAC_EMU_TMA", mode, 1);
    expectTmaPipeline(*this, /*SWIZZLE_128B=*/3);
  }
}

TEST_F(CudaEmulationTest, TmaPipelineLoadsUnswizzledBoxes) {
  for (const char *mode : {"issue", "wait"}) {
    SCOPED_TRACE(std::string("LLAMAC_EMU_TMA=") + mode);
    setenv("LLAMAC_EMU_TMA", mode, 1);
    expectTmaPipeline(*this, /*SWIZZLE_NONE=*/0);
  }
}

/// A wgmma operand or TMA box past the launch's dynamic shared memory (a
/// kernel launched with a geometry that is not its own) fails the launch.
TEST_F(CudaEmulationTest, SharedMemoryPastTheLaunchsTraps) {
  std::vector<uint16_t> a(64 * 32), b(256 * 32);
  std::vector<float> af, bf;
  fillWgmmaOperands(a, af, b, bf);
  std::vector<float> d(64 * 256 + 1, 0.0f);
  // B's 256 rows end at 8192 + 32768 bytes.
  EXPECT_EQ(launch("wgmma256", 1, 128, {a.data(), b.data(), d.data()}, {},
                   8192 + 32768),
            "");
  EXPECT_THAT(launch("wgmma256", 1, 128, {a.data(), b.data(), d.data()}, {},
                     8192 + 16384),
              HasSubstr("wgmma: B ends at byte 40960, past the launch's 24576 "
                        "bytes of dynamic shared memory in thread 0"));
  TmaMatrix matrix;
  std::vector<int> coords = tmaBoxes();
  int tiles = int(coords.size() / 2);
  std::vector<uint8_t> out(size_t(tiles) * 4096, 0xee);
  EXPECT_THAT(launch("tmaPipeline", 2, 288, {out.data(), coords.data(), &tiles},
                     {matrix.map(3)}, 4096),
              HasSubstr("runs past the launch's 4096 bytes of dynamic shared "
                        "memory"));
  EXPECT_THAT(launch("wgmma", 1, 128, {a.data(), b.data(), d.data()}, {},
                     kAllShared + 1),
              HasSubstr("232449 bytes of dynamic shared memory, more than the "
                        "227 KiB emulated"));
}

/// `issue` lands a copy when issued; `wait` only when a thread waits on its
/// mbarrier, so that a read before the wait sees the stale stage.
TEST_F(CudaEmulationTest, TmaCopiesLandAtTheWaitUnderWaitMode) {
  TmaMatrix matrix;
  std::vector<uint16_t> out(2, 0);
  setenv("LLAMAC_EMU_TMA", "issue", 1);
  ASSERT_EQ(launch("tmaReadBeforeWait", 1, 1, {out.data()}, {matrix.map(3)}),
            "");
  EXPECT_EQ(out, (std::vector<uint16_t>{matrix.at(0, 0), matrix.at(0, 0)}));
  setenv("LLAMAC_EMU_TMA", "wait", 1);
  ASSERT_EQ(launch("tmaReadBeforeWait", 1, 1, {out.data()}, {matrix.map(3)}),
            "");
  EXPECT_EQ(out, (std::vector<uint16_t>{0xffff, matrix.at(0, 0)}));
}

/// A stage reloaded before the products that read it retired: on a GPU
/// they may read either tile, so the emulator refuses the copy.
TEST_F(CudaEmulationTest, TmaOverThePendingOperandsOfAWgmmaTraps) {
  TmaMatrix matrix;
  EXPECT_THAT(
      launch("tmaOverPendingWgmma", 1, 128, {}, {matrix.map(3)}),
      HasSubstr("a TMA copy into shared memory 0x2000..0x3000 overwrites "
                "operand B (0x2000..0x6000) of a wgmma that thread 0 has not "
                "retired (wgmma.wait_group)"));
}

/// A stage released before the products that read it retired: the arrival
/// that completes the producer's phase runs the producer at once, as a GPU
/// may, so its copy lands over the pending operand and traps, though the
/// consumer's warp would otherwise reach its wait before anything else ran.
TEST_F(CudaEmulationTest, AStageReleasedBeforeItsProductsRetiredTraps) {
  TmaMatrix matrix;
  EXPECT_THAT(
      launch("releaseBeforeRetire", 1, 256, {}, {matrix.map(3)}),
      HasSubstr("a TMA copy into shared memory 0x2000..0x3000 overwrites "
                "operand B (0x2000..0x6000) of a wgmma that thread 128 has not "
                "retired (wgmma.wait_group)"));
}

TEST_F(CudaEmulationTest, ExitWithATmaCopyInFlightFailsUnderWaitMode) {
  TmaMatrix matrix;
  EXPECT_EQ(launch("tmaWithoutWait", 1, 1, {}, {matrix.map(3)}), "");
  setenv("LLAMAC_EMU_TMA", "wait", 1);
  EXPECT_THAT(launch("tmaWithoutWait", 1, 1, {}, {matrix.map(3)}),
              HasSubstr("block (0, 0, 0): exit with a TMA copy in flight"));
}

TEST_F(CudaEmulationTest, UnknownTmaModeFailsTheLaunch) {
  setenv("LLAMAC_EMU_TMA", "later", 1);
  std::vector<float> out(512, 0.0f);
  EXPECT_THAT(launch("sums", 1, 256, {out.data()}),
              HasSubstr("LLAMAC_EMU_TMA=later: expected 'issue'"));
}

TEST_F(CudaEmulationTest, AnMbarrierPhaseThatNeverCompletesIsADeadlock) {
  unsigned bar = 0;
  std::string error = launch("mbarrierNeverCompletes", 1, 32, {&bar});
  EXPECT_THAT(error, HasSubstr("block (0, 0, 0): deadlock"));
  char waits[64];
  std::snprintf(waits, sizeof(waits), "thread 0: mbarrier 0x%x parity 0", bar);
  EXPECT_THAT(error, HasSubstr(waits));
  EXPECT_THAT(error, HasSubstr("threads 1-31: exited"));
}

TEST_F(CudaEmulationTest, MbarrierMisuseTraps) {
  int mode = 0;
  EXPECT_THAT(launch("mbarrierMisuse", 1, 1, {&mode}),
              HasSubstr("which mbarrier.init has not initialized"));
  mode = 1;
  EXPECT_THAT(launch("mbarrierMisuse", 1, 1, {&mode}),
              HasSubstr("with no arrivals pending in its phase"));
}

/// The origins of clusterPipeline's boxes for `blocks` blocks in clusters of
/// 2 over `steps` steps: interior, negative and wholly outside ones.
struct ClusterBoxes {
  std::vector<int> own, pairs;

  ClusterBoxes(int blocks, int steps) {
    auto origin = [](std::vector<int> &coords, int a, int b) {
      coords.insert(coords.end(), {(a % 5) * 48 - 16, (b % 4) * 32 - 8});
    };
    for (int block = 0; block < blocks; ++block)
      for (int i = 0; i < steps; ++i)
        origin(own, block * 7 + i * 3, block + i);
    for (int cluster = 0; cluster < blocks / 2; ++cluster)
      for (int i = 0; i < steps; ++i)
        for (int r = 0; r < 2; ++r)
          origin(pairs, cluster * 5 + i + r * 2, cluster * 3 + i * 2 + r);
  }
};

/// Runs clusterPipeline on 4 blocks (2 clusters of 2) over 8 steps of 3
/// stages, and expects each stage element by element as each CTA saw it:
/// its own box, then its cluster's pair, which the two CTAs loaded a half
/// each; the phases of the stages' mbarriers wrap.
void expectClusterPipeline(CudaEmulationTest &test) {
  constexpr int kBlocks = 4, kSteps = 8, kStageBytes = 3 * 4096;
  TmaMatrix matrix;
  ClusterBoxes boxes(kBlocks, kSteps);
  std::vector<uint8_t> out(size_t(kBlocks) * kSteps * kStageBytes, 0xee);
  std::vector<int> settings = {kSteps, /*tail=*/1};
  ASSERT_EQ(test.launch("clusterPipeline", kBlocks, 96,
                        {out.data(), boxes.own.data(), boxes.pairs.data(),
                         settings.data()},
                        {matrix.map(/*SWIZZLE_NONE=*/0)}, kAllShared,
                        {2, 1, 1}),
            "");
  for (int block = 0; block < kBlocks; ++block)
    for (int i = 0; i < kSteps; ++i)
      for (int box = 0; box < 3; ++box) {
        const int *origin =
            box == 0
                ? &boxes.own[2 * (kSteps * block + i)]
                : &boxes.pairs[2 * (2 * (kSteps * (block / 2) + i) + box - 1)];
        for (int r = 0; r < 32; ++r)
          for (int e = 0; e < 64; ++e) {
            uint16_t got;
            std::memcpy(&got,
                        &out[size_t(kSteps * block + i) * kStageBytes +
                             box * 4096 + r * 128 + e * 2],
                        2);
            ASSERT_EQ(got, matrix.at(origin[0] + e, origin[1] + r))
                << "block " << block << ", step " << i << ", box " << box
                << ", row " << r << ", element " << e;
          }
      }
}

/// Each CTA's loader loads its own box and multicasts half of a pair into
/// both CTAs' shared memory; consumers release a stage in both CTAs with
/// remote arrivals, and each loader waits for its last stages' releases.
TEST_F(CudaEmulationTest, ClusterPipelineMulticastsIntoBothCtas) {
  for (const char *mode : {"issue", "wait"}) {
    SCOPED_TRACE(std::string("LLAMAC_EMU_TMA=") + mode);
    setenv("LLAMAC_EMU_TMA", mode, 1);
    expectClusterPipeline(*this);
  }
}

/// Without the producer tail, a CTA exits while its peer's consumers still
/// release stages in it: on a GPU its shared memory may be another block's
/// by then.
TEST_F(CudaEmulationTest, ARemoteArrivalOnAnExitedCtaTraps) {
  for (const char *mode : {"issue", "wait"}) {
    SCOPED_TRACE(std::string("LLAMAC_EMU_TMA=") + mode);
    setenv("LLAMAC_EMU_TMA", mode, 1);
    TmaMatrix matrix;
    ClusterBoxes boxes(2, 8);
    std::vector<uint8_t> out(2 * 8 * 3 * 4096);
    std::vector<int> settings = {8, /*tail=*/0};
    // Whichever CTA's consumers release the last stage find the other gone.
    EXPECT_THAT(
        launch(
            "clusterPipeline", 2, 96,
            {out.data(), boxes.own.data(), boxes.pairs.data(), settings.data()},
            {matrix.map(0)}, kAllShared, {2, 1, 1}),
        testing::MatchesRegex(
            "block \\([01], 0, 0\\): mbarrier.arrive.shared::cluster: rank "
            "[01] \\(block \\([01], 0, 0\\)\\) has exited, and its shared "
            "memory may be another block's in thread 0"));
  }
}

/// Each CTA has its own block index, rank and shared memory, at the same
/// shared addresses; without clusters, a block is a cluster of one.
TEST_F(CudaEmulationTest, CtasOfAClusterHaveTheirOwnSharedMemory) {
  std::vector<unsigned> out(4 * 64 * 5, 0);
  ASSERT_EQ(
      launch("clusterIdentity", 4, 64, {out.data()}, {}, kAllShared, {2, 1, 1}),
      "");
  for (unsigned block = 0; block < 4; ++block)
    for (unsigned t = 0; t < 64; ++t) {
      const unsigned *got = &out[5 * (64 * block + t)];
      EXPECT_EQ(std::vector<unsigned>(got, got + 5),
                (std::vector<unsigned>{block, block % 2, 2, 1000 + block, 0}))
          << "block " << block << ", thread " << t;
    }
  ASSERT_EQ(launch("clusterIdentity", 2, 64, {out.data()}), "");
  for (unsigned block = 0; block < 2; ++block) {
    const unsigned *got = &out[5 * 64 * block];
    EXPECT_EQ(std::vector<unsigned>(got, got + 5),
              (std::vector<unsigned>{block, 0, 1, 1000 + block, 0}));
  }
}

TEST_F(CudaEmulationTest, ClusterShapesTheEmulatorCannotRunFail) {
  std::vector<unsigned> out(4 * 64 * 5, 0);
  EXPECT_EQ(
      launch("clusterIdentity", 3, 64, {out.data()}, {}, kAllShared, {2, 1, 1}),
      "cluster 2x1x1 does not divide grid 3x1x1");
  EXPECT_EQ(
      launch("clusterIdentity", 4, 64, {out.data()}, {}, kAllShared, {1, 2, 1}),
      "cluster 1x2x1: clusters along y or z are not emulated");
  EXPECT_EQ(launch("clusterIdentity", 16, 64, {out.data()}, {}, kAllShared,
                   {16, 1, 1}),
            "cluster 16x1x1: more blocks than the 8 of a portable cluster");
}

TEST_F(CudaEmulationTest, ClusterMisuseTraps) {
  TmaMatrix matrix;
  int mode = 0;
  auto misuse = [&] {
    return launch("clusterMisuse", 2, 32, {&mode}, {matrix.map(3)}, kAllShared,
                  {2, 1, 1});
  };
  EXPECT_EQ(misuse(),
            "block (0, 0, 0): cp.async.bulk.tensor.2d.multicast::cluster: "
            "ctaMask 0x5 names a rank outside the cluster of 2 in thread 0");
  mode = 1;
  EXPECT_EQ(misuse(), "block (0, 0, 0): mbarrier.arrive.shared::cluster: "
                      "rank 2 is outside the cluster of 2 in thread 0");
  mode = 2;
  EXPECT_EQ(misuse(),
            "block (0, 0, 0): mbarrier.arrive.shared::cluster on mbarrier "
            "0x8 of block (1, 0, 0), which mbarrier.init has not "
            "initialized in thread 0");
}

/// barrier.cluster waits for every thread of the cluster that has not
/// exited, as the PTX ISA says: one that waits elsewhere is a deadlock.
TEST_F(CudaEmulationTest, AThreadThatSkipsTheClusterBarrierIsADeadlock) {
  int mode = 0;
  auto run = [&] {
    return launch("clusterSyncSkipped", 2, 64, {&mode}, {}, kAllShared,
                  {2, 1, 1});
  };
  EXPECT_EQ(run(), "");
  mode = 1;
  EXPECT_EQ(run(), "cluster of blocks (0, 0, 0) to (1, 0, 0): deadlock: "
                   "threads wait at different barriers\n"
                   " block (0, 0, 0):\n"
                   "  threads 0-63: barrier.cluster #1\n"
                   " block (1, 0, 0):\n"
                   "  threads 0-2: barrier.cluster #1\n"
                   "  thread 3: __syncthreads #1\n"
                   "  threads 4-63: barrier.cluster #1");
  mode = 2;
  EXPECT_EQ(run(), "");
}

/// A multicast copy checks the pending wgmma operands of every CTA it
/// lands in.
TEST_F(CudaEmulationTest, AMulticastOverAPeersPendingWgmmaOperandsTraps) {
  TmaMatrix matrix;
  EXPECT_EQ(launch("multicastOverPendingWgmma", 2, 128, {}, {matrix.map(3)},
                   kAllShared, {2, 1, 1}),
            "block (0, 0, 0): cp.async.bulk.tensor: a TMA copy into shared "
            "memory 0x2000..0x3000 of block (1, 0, 0) overwrites operand B "
            "(0x2000..0x6000) of a wgmma that thread 0 of block (1, 0, 0) has "
            "not retired (wgmma.wait_group) in thread 0");
}

/// The fake driver checks cuLaunchKernelEx's cluster dimension as the
/// driver does, and an emulated module's launch runs in its clusters.
TEST_F(CudaEmulationTest, FakeDriverLaunchesEmulatedKernelsInClusters) {
  void *driver = dlopen(LLAMAC_FAKE_LIBCUDA, RTLD_NOW | RTLD_LOCAL);
  ASSERT_TRUE(driver) << dlerror();
  auto symbol = [&](const char *name) { return dlsym(driver, name); };
  auto loadData = reinterpret_cast<cu::Result (*)(cu::Module *, const void *)>(
      symbol("cuModuleLoadData"));
  auto getFunction = reinterpret_cast<cu::Result (*)(
      cu::Function *, cu::Module, const char *)>(symbol("cuModuleGetFunction"));
  auto launchEx = reinterpret_cast<cu::Result (*)(
      const cu::LaunchConfig *, cu::Function, void **, void **)>(
      symbol("cuLaunchKernelEx"));
  auto launchPlain = reinterpret_cast<cu::Result (*)(
      cu::Function, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
      unsigned, cu::Stream, void **, void **)>(symbol("cuLaunchKernel"));
  auto clusterLaunches =
      reinterpret_cast<int (*)()>(symbol("llamacFakeCudaClusterLaunches"));
  auto lastCluster = reinterpret_cast<void (*)(unsigned *)>(
      symbol("llamacFakeCudaLastCluster"));
  ASSERT_TRUE(loadData && getFunction && launchEx && launchPlain &&
              clusterLaunches && lastCluster);
  cu::Module module = nullptr;
  cu::Function function = nullptr;
  ASSERT_EQ(loadData(&module, image.data()), cu::kSuccess);
  ASSERT_EQ(getFunction(&function, module, "clusterIdentity"), cu::kSuccess);

  std::vector<unsigned> out(4 * 64 * 5, 0);
  LlamaGpuArgs args = {};
  args.buffers[0] = out.data();
  void *params[] = {&args};
  cu::LaunchAttribute attribute = {};
  attribute.id = cu::kLaunchAttributeClusterDimension;
  attribute.value.clusterDim = {2, 1, 1};
  cu::LaunchConfig config = {4, 1, 1, 64, 1, 1, 16, nullptr, &attribute, 1};
  auto ranks = [&] {
    std::vector<unsigned> ranks;
    for (unsigned block = 0; block < 4; ++block)
      ranks.push_back(out[5 * 64 * block + 1] * 10 + out[5 * 64 * block + 2]);
    return ranks;
  };
  unsigned cluster[3] = {0, 0, 0};

  setenv("LLAMAC_FAKE_CUDA_SM", "90", 1);
  EXPECT_EQ(launchEx(&config, function, params, nullptr), cu::kSuccess);
  EXPECT_EQ(ranks(), (std::vector<unsigned>{2, 12, 2, 12}));
  EXPECT_EQ(clusterLaunches(), 1);
  lastCluster(cluster);
  EXPECT_EQ(std::vector<unsigned>(cluster, cluster + 3),
            (std::vector<unsigned>{2, 1, 1}));
  // Clusters that do not tile the grid, or of more than 8 blocks.
  for (std::array<unsigned, 3> dim :
       {std::array<unsigned, 3>{3, 1, 1}, {2, 2, 1}, {0, 1, 1}}) {
    attribute.value.clusterDim = {dim[0], dim[1], dim[2]};
    EXPECT_EQ(launchEx(&config, function, params, nullptr), 1);
  }
  config.gridDimX = 16;
  attribute.value.clusterDim = {16, 1, 1};
  EXPECT_EQ(launchEx(&config, function, params, nullptr), 1);
  // Valid, but the emulator runs clusters along x only.
  config.gridDimX = 4;
  config.gridDimY = 2;
  attribute.value.clusterDim = {1, 2, 1};
  EXPECT_EQ(launchEx(&config, function, params, nullptr), 719);
  EXPECT_EQ(clusterLaunches(), 2);
  // A block is a cluster of one without the attribute.
  EXPECT_EQ(
      launchPlain(function, 4, 1, 1, 64, 1, 1, 16, nullptr, params, nullptr),
      cu::kSuccess);
  EXPECT_EQ(ranks(), (std::vector<unsigned>{1, 1, 1, 1}));
  lastCluster(cluster);
  EXPECT_EQ(std::vector<unsigned>(cluster, cluster + 3),
            (std::vector<unsigned>{1, 1, 1}));
  // Before compute capability 9.0, clusters are not supported.
  setenv("LLAMAC_FAKE_CUDA_SM", "80", 1);
  config.gridDimY = 1;
  attribute.value.clusterDim = {2, 1, 1};
  EXPECT_EQ(launchEx(&config, function, params, nullptr), 801);
  unsetenv("LLAMAC_FAKE_CUDA_SM");
  auto unload =
      reinterpret_cast<cu::Result (*)(cu::Module)>(symbol("cuModuleUnload"));
  EXPECT_EQ(unload(module), cu::kSuccess);
  dlclose(driver);
}

TEST_F(CudaEmulationTest, TmaFromATensorMapTheFakeDriverDidNotEncodeTraps) {
  EXPECT_THAT(launch("tmaWithoutWait", 1, 1, {}, {LlamaGpuTensorMap{}}),
              HasSubstr("cp.async.bulk.tensor.2d: the tensor map was not "
                        "encoded by the fake driver's cuTensorMapEncodeTiled "
                        "(bad magic) in thread 0"));
}

/// The fake driver's cuTensorMapEncodeTiled refuses what the real one does
/// and answers CUDA_ERROR_NOT_SUPPORTED for valid maps it cannot emulate.
TEST_F(CudaEmulationTest, FakeDriverEncodesTensorMapsAsTheDriverValidates) {
  void *driver = dlopen(LLAMAC_FAKE_LIBCUDA, RTLD_NOW | RTLD_LOCAL);
  ASSERT_TRUE(driver) << dlerror();
  using Encode =
      int (*)(void *, int, unsigned, void *, const uint64_t *, const uint64_t *,
              const uint32_t *, const uint32_t *, int, int, int, int);
  using ErrorName = int (*)(int, const char **);
  auto encode =
      reinterpret_cast<Encode>(dlsym(driver, "cuTensorMapEncodeTiled"));
  auto errorName = reinterpret_cast<ErrorName>(dlsym(driver, "cuGetErrorName"));
  ASSERT_TRUE(encode && errorName);
  alignas(64) static uint16_t data[64 * 64];
  LlamaGpuTensorMap map;
  const uint64_t dims[3] = {64, 64, 2}, strides[2] = {128, 128 * 64};
  const uint32_t box[3] = {64, 8, 1}, boxTooWide[3] = {128, 8, 1},
                 ones[3] = {1, 1, 1};
  // bf16, rank 2, the 128-byte swizzle.
  EXPECT_EQ(encode(&map, 9, 2, data, dims, strides, box, ones, 0, 3, 0, 0), 0);
  LlamaGpuTensorMap same;
  ASSERT_EQ(llamaEmuEncodeTiled(&same, 9, 2, data, dims, strides, box, ones, 0,
                                3, 0, 0),
            0);
  EXPECT_EQ(std::memcmp(&map, &same, sizeof(map)), 0);
  // A global address not 16-byte aligned.
  EXPECT_EQ(encode(&map, 9, 2, data + 1, dims, strides, box, ones, 0, 3, 0, 0),
            1);
  // 256-byte box rows past the 128-byte swizzle span.
  EXPECT_EQ(
      encode(&map, 9, 2, data, dims, strides, boxTooWide, ones, 0, 3, 0, 0), 1);
  // Valid, but rank 3 is not emulated.
  EXPECT_EQ(encode(&map, 9, 3, data, dims, strides, box, ones, 0, 3, 0, 0),
            801);
  const char *name = nullptr;
  ASSERT_EQ(errorName(801, &name), 0);
  EXPECT_STREQ(name, "CUDA_ERROR_NOT_SUPPORTED");
  dlclose(driver);
}

} // namespace
