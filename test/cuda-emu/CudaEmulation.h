//===- CudaEmulation.h - CUDA's device language, for the host compiler ----===//
//
// Force-included (-include) before an artifact's CUDA source when the
// kernel emulator compiles it for the CPU, with LLAMAC_CUDA_EMULATION
// defined. It supplies what NVRTC would: the qualifiers, the built-in
// indices, __half and __nv_bfloat16, vector types, shuffles, barriers,
// atomics, dynamic shared memory, and the prelude's inline-PTX primitives
// (cp.async, ldmatrix, mma.sync in 16 bits and in tf32, and sm_90a's
// wgmma with its shared-memory descriptors, mbarriers and TMA tile loads),
// whose data exchange follows the PTX ISA's fragment layouts.
// Everything else in the source is compiled unchanged. `llama-cuda-emu
// --arch sm_90a` defines __CUDA_ARCH_FEAT_SM90_ALL, as NVRTC does for that
// arch, so the kernels take their wgmma paths.
//
// Threads are fibers run by CudaEmulation.cpp one block at a time (one
// cluster at a time in a launch with clusters), so `__shared__` variables
// are function statics and atomics need no hardware support. Barriers and
// warp collectives are checked: a thread that reaches a different barrier
// than its block, cluster or warp, a warp collective with exited lanes, or
// an mbarrier phase that can never complete fails the launch.
//
// The CTAs of a cluster (sm_90) run at once, each with its own window of
// dynamic shared memory, and a shared address is an offset within the
// window of the CTA that uses it, so that the same variable has the same
// address in every CTA, as on a GPU. Static `__shared__` variables are one
// for all the CTAs of a cluster: kernels launched in clusters must keep
// their shared data in dynamic shared memory (mbarriers may be static:
// they live in a side table keyed by CTA and address).
//
//===----------------------------------------------------------------------===//

#ifndef LLAMAC_TEST_CUDAEMULATION_H
#define LLAMAC_TEST_CUDAEMULATION_H

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
/// The kernel's copy of its parameter is the fiber's own, and a tensor
/// map's address in it is as good as one in parameter space.
#define __grid_constant__
#define __align__(n) __attribute__((aligned(n)))
/// One block runs at a time, so a function-local static is its shared
/// memory (one for all the CTAs of a cluster).
#define __shared__ static

struct LlamaEmuDim3 {
  unsigned x, y, z;
};

/// The dynamic shared memory of the CTAs of a cluster: window r of
/// llamaEmuSharedAnchor is CTA r's, 1024-byte aligned, of which a launch
/// may use 227 KiB. A power of two, so that an address is a mask away.
inline constexpr unsigned kLlamaEmuSharedWindowBytes = 256 * 1024;
inline constexpr unsigned kLlamaEmuMaxClusterSize = 8;

/// The fiber's view of itself; CudaEmulation.cpp owns these.
struct LlamaEmuThreadState {
  LlamaEmuDim3 index;
  LlamaEmuDim3 blockIndex;
  /// The CTA's rank in its cluster and its shared memory window.
  unsigned clusterRank;
  char *shared;
};
extern "C" {
extern LlamaEmuThreadState *llamaEmuCurrent;
extern LlamaEmuDim3 llamaEmuBlockDim, llamaEmuGridDim;
/// The CTAs in a cluster of the running launch (1 without clusters).
extern unsigned llamaEmuClusterSize;
/// The anchor that 32-bit "shared addresses" are offsets from, and the
/// cluster's dynamic shared memory (kLlamaEmuMaxClusterSize windows), so
/// that its addresses are small and positive like a GPU's.
extern char llamaEmuSharedAnchor[];

void llamaEmuSyncThreads(void);
void llamaEmuClusterSync(void);
uint64_t llamaEmuShuffleXor(uint64_t bits, int laneMask, unsigned mask);
void llamaEmuSyncWarp(unsigned mask);
void llamaEmuNamedBarrier(unsigned id, unsigned count);
void llamaEmuNamedBarrierArrive(unsigned id, unsigned count);
void llamaEmuSetMaxRegisters(unsigned count);
void llamaEmuCpAsync(void *dst, const void *src, int validBytes);
void llamaEmuCpAsyncCommit(void);
void llamaEmuCpAsyncWait(int pending);
void llamaEmuLdmatrixX4(unsigned *r, const void *address);
void llamaEmuLdmatrixX4Trans(unsigned *r, const void *address);
void llamaEmuMma16816(float *d, const unsigned *a, const unsigned *b,
                      int isBf16);
void llamaEmuMma1688Tf32(float *d, const unsigned *a, const unsigned *b);
void llamaEmuWgmma(float *d, int n, uint64_t a, uint64_t b, int accumulate,
                   int isBf16, int transA, int transB);
void llamaEmuWgmmaRegisterA(float *d, int n, const unsigned *a, uint64_t b,
                            int accumulate, int isBf16, int transB);
void llamaEmuWgmmaCommit(void);
void llamaEmuWgmmaWait(int pending);
void llamaEmuMbarrierInit(unsigned bar, unsigned count);
void llamaEmuMbarrierArrive(unsigned bar, unsigned txBytes);
void llamaEmuMbarrierArriveCluster(unsigned bar, unsigned rank);
void llamaEmuMbarrierWait(unsigned bar, unsigned parity);
void llamaEmuTmaLoad2d(unsigned dst, const void *map, int inner, int row,
                       unsigned bar);
void llamaEmuTmaLoad2dMulticast(unsigned dst, const void *map, int inner,
                                int row, unsigned bar, unsigned ctaMask);
[[noreturn]] void llamaEmuTrap(const char *what);
/// Traps unless p is a multiple of `bytes`, the width of the vector access
/// about to be made there: a GPU faults on a misaligned one.
void llamaEmuCheckAligned(const void *p, unsigned bytes);
float llamaEmuHalfToFloat(uint16_t bits);
uint16_t llamaEmuFloatToHalf(float value);
}

#define threadIdx (llamaEmuCurrent->index)
#define blockIdx (llamaEmuCurrent->blockIndex)
#define blockDim llamaEmuBlockDim
#define gridDim llamaEmuGridDim

//===----------------------------------------------------------------------===//
// Types
//===----------------------------------------------------------------------===//

struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
struct alignas(8) uint2 {
  unsigned x, y;
};
struct alignas(8) float2 {
  float x, y;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) {
  return {x, y, z, w};
}
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) {
  return {x, y, z, w};
}
struct alignas(8) int2 {
  int x, y;
};
inline int2 make_int2(int x, int y) { return {x, y}; }

/// Storage-only 16-bit floats: the kernels convert through the functions
/// below and never do arithmetic on them.
struct __half {
  uint16_t bits;
};
struct __nv_bfloat16 {
  uint16_t bits;
};

inline float llamaEmuBitsToFloat(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
inline uint32_t llamaEmuFloatToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

inline float __bfloat162float(__nv_bfloat16 v) {
  return llamaEmuBitsToFloat(uint32_t(v.bits) << 16);
}
inline __nv_bfloat16 __float2bfloat16_rn(float f) {
  uint32_t bits = llamaEmuFloatToBits(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) // NaN: keep it quiet and a NaN
    return {uint16_t((bits >> 16) | 0x40u)};
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return {uint16_t(bits >> 16)};
}
/// IEEE binary16, rounded to nearest even (runtime/HalfFloat.h).
inline float __half2float(__half v) { return llamaEmuHalfToFloat(v.bits); }
inline __half __float2half_rn(float f) { return {llamaEmuFloatToHalf(f)}; }

inline float __int_as_float(int bits) { return llamaEmuBitsToFloat(bits); }
inline float __uint_as_float(unsigned bits) {
  return llamaEmuBitsToFloat(bits);
}
inline unsigned __float_as_uint(float f) { return llamaEmuFloatToBits(f); }
inline double __longlong_as_double(long long bits) {
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

//===----------------------------------------------------------------------===//
// Synchronization, memory and atomics
//===----------------------------------------------------------------------===//

inline void __syncthreads() { llamaEmuSyncThreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { llamaEmuSyncWarp(mask); }
/// Blocks run one after another on one host thread: every write is visible.
inline void __threadfence() {}
[[noreturn]] inline void __trap() { llamaEmuTrap("__trap()"); }

template <typename T> inline T __ldcg(const T *p) { return *p; }
template <typename T> inline void __stcg(T *p, T v) { *p = v; }

/// Fibers switch only at barriers and collectives, so a read-modify-write
/// is atomic as written.
inline unsigned atomicAdd(unsigned *p, unsigned v) {
  unsigned old = *p;
  *p = old + v;
  return old;
}
inline double atomicAdd(double *p, double v) {
  double old = *p;
  *p = old + v;
  return old;
}
inline unsigned long long atomicExch(unsigned long long *p,
                                     unsigned long long v) {
  unsigned long long old = *p;
  *p = v;
  return old;
}

template <typename T>
inline T __shfl_xor_sync(unsigned mask, T value, int laneMask) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable<T>::value,
                "shuffles move at most 8 bytes");
  uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  bits = llamaEmuShuffleXor(bits, laneMask, mask);
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

/// Whether `predicate` holds in any lane: an OR over the warp's butterfly,
/// a warp collective like the shuffles it is made of.
inline int __any_sync(unsigned mask, int predicate) {
  int any = predicate != 0;
  for (int laneMask = 1; laneMask < 32; laneMask *= 2)
    any |= __shfl_xor_sync(mask, any, laneMask);
  return any;
}

//===----------------------------------------------------------------------===//
// The prelude's inline-PTX primitives
//===----------------------------------------------------------------------===//

inline uint4 llamaLoadStreaming(const uint4 *p) {
  llamaEmuCheckAligned(p, 16);
  return *p;
}
/// A cache policy changes nothing the emulator can see.
template <typename Raw> inline Raw llamaLoadEvictFirst(const Raw *p) {
  llamaEmuCheckAligned(p, sizeof(Raw));
  return *p;
}

/// Shared memory is host memory near the anchor (all of it is statics of
/// the same shared object), so a 32-bit offset names it, and the kernels'
/// address arithmetic on it works unchanged. Dynamic shared memory's
/// offset is from its CTA's window, below kLlamaEmuSharedWindowBytes, so
/// that each CTA of a cluster resolves it in its own window; a static's is
/// from the anchor, outside the windows, so it is the same in every CTA.
inline unsigned llamaSmemAddress(const void *p) {
  intptr_t offset = static_cast<const char *>(p) - llamaEmuSharedAnchor;
  if (offset >= 0 &&
      offset < intptr_t(kLlamaEmuMaxClusterSize) * kLlamaEmuSharedWindowBytes)
    return unsigned(offset) & (kLlamaEmuSharedWindowBytes - 1);
  if (offset != intptr_t(int32_t(offset)))
    llamaEmuTrap("shared address out of 32-bit range");
  return unsigned(int32_t(offset));
}
/// The calling thread's memory at a shared address.
inline void *llamaEmuSharedPointer(unsigned address) {
  if (address < kLlamaEmuSharedWindowBytes)
    return llamaEmuCurrent->shared + address;
  return llamaEmuSharedAnchor + int32_t(address);
}

inline void llamaCpAsync16(unsigned dst, const void *src, int validBytes) {
  llamaEmuCpAsync(llamaEmuSharedPointer(dst), src, validBytes);
}
inline void llamaCpAsyncCommit() { llamaEmuCpAsyncCommit(); }
template <int Pending> inline void llamaCpAsyncWait() {
  llamaEmuCpAsyncWait(Pending);
}
inline void llamaLdmatrixX4(unsigned (&r)[4], unsigned address) {
  llamaEmuLdmatrixX4(r, llamaEmuSharedPointer(address));
}
inline void llamaLdmatrixX4Trans(unsigned (&r)[4], unsigned address) {
  llamaEmuLdmatrixX4Trans(r, llamaEmuSharedPointer(address));
}
template <typename T>
inline void llamaMma16816(float (&d)[4], const unsigned (&a)[4],
                          const unsigned (&b)[2]) {
  static_assert(std::is_same<T, __half>::value ||
                    std::is_same<T, __nv_bfloat16>::value,
                "mma.sync takes f16 or bf16");
  llamaEmuMma16816(d, a, b, std::is_same<T, __nv_bfloat16>::value);
}

/// cvt.rna.tf32.f32: 10 bits of mantissa, rounded to nearest with ties
/// away from zero (adding half a unit to the magnitude); infinities stay,
/// and a NaN stays a NaN.
inline unsigned llamaToTf32(float v) {
  uint32_t bits = llamaEmuFloatToBits(v);
  if ((bits & 0x7f800000u) == 0x7f800000u)
    return (bits & 0x7fffffffu) > 0x7f800000u ? 0x7fffffffu : bits;
  return (bits + 0x1000u) & 0xffffe000u;
}
inline void llamaMma1688Tf32(float (&d)[4], const unsigned (&a)[4],
                             const unsigned (&b)[2]) {
  llamaEmuMma1688Tf32(d, a, b);
}

/// `extern __shared__` memory: the calling thread's CTA's window.
#define LLAMA_DYNAMIC_SHARED(name)                                             \
  unsigned char *name =                                                        \
      reinterpret_cast<unsigned char *>(llamaEmuCurrent->shared)

/// Launches run one after another, so the previous kernel has always
/// finished (programmatic dependent launch has nothing to overlap).
inline void llamaGridDependencyWait() {}
inline void llamaLaunchDependents() {}
/// A cache hint with nothing to emulate.
inline void llamaPrefetchL2(const void *) {}

/// wgmma.mma_async runs when wgmma.wait_group retires it, the latest moment
/// the hardware allows: reading the accumulators or overwriting the
/// operands' shared memory before the wait gives a wrong result here too.
/// The fences order nothing on one host thread.
inline void llamaFenceProxyAsync() {}
inline void llamaWgmmaFence() {}
template <int N> inline void llamaWgmmaFenceOperands(float (&)[N]) {}
template <int K> inline void llamaWgmmaFenceRegisters(unsigned (&)[K][4]) {}
inline void llamaWgmmaCommit() { llamaEmuWgmmaCommit(); }
template <int Pending> inline void llamaWgmmaWait() {
  llamaEmuWgmmaWait(Pending);
}
/// wgmma.mma_async.m64nNk16: the thread's N / 2 accumulators.
template <typename T, int TransA, int TransB, int N>
inline void llamaEmuWgmmaOf(float (&d)[N / 2], unsigned long long a,
                            unsigned long long b, int accumulate) {
  static_assert(std::is_same<T, __half>::value ||
                    std::is_same<T, __nv_bfloat16>::value,
                "wgmma takes f16 or bf16 here");
  static_assert((TransA == 0 || TransA == 1) && (TransB == 0 || TransB == 1),
                "wgmma's transpose immediates are 0 or 1");
  llamaEmuWgmma(d, N, a, b, accumulate, std::is_same<T, __nv_bfloat16>::value,
                TransA, TransB);
}
template <typename T, int TransA = 0, int TransB = 0>
inline void llamaWgmma64x64(float (&d)[32], unsigned long long a,
                            unsigned long long b, int accumulate) {
  llamaEmuWgmmaOf<T, TransA, TransB, 64>(d, a, b, accumulate);
}
template <typename T, int TransA = 0, int TransB = 0>
inline void llamaWgmma64x128(float (&d)[64], unsigned long long a,
                             unsigned long long b, int accumulate) {
  llamaEmuWgmmaOf<T, TransA, TransB, 128>(d, a, b, accumulate);
}
template <typename T, int TransA = 0, int TransB = 0>
inline void llamaWgmma64x256(float (&d)[128], unsigned long long a,
                             unsigned long long b, int accumulate) {
  llamaEmuWgmmaOf<T, TransA, TransB, 256>(d, a, b, accumulate);
}

/// The same with A in registers (the warp's m16n8k16 A fragments).
template <typename T, int TransB, int N>
inline void llamaEmuWgmmaRegisterAOf(float (&d)[N / 2], const unsigned (&a)[4],
                                     unsigned long long b, int accumulate) {
  static_assert(std::is_same<T, __half>::value ||
                    std::is_same<T, __nv_bfloat16>::value,
                "wgmma takes f16 or bf16 here");
  static_assert(TransB == 0 || TransB == 1,
                "wgmma's transpose immediate is 0 or 1");
  llamaEmuWgmmaRegisterA(d, N, a, b, accumulate,
                         std::is_same<T, __nv_bfloat16>::value, TransB);
}
template <typename T, int TransB = 0>
inline void llamaWgmma64x64RegisterA(float (&d)[32], const unsigned (&a)[4],
                                     unsigned long long b, int accumulate) {
  llamaEmuWgmmaRegisterAOf<T, TransB, 64>(d, a, b, accumulate);
}
template <typename T, int TransB = 0>
inline void llamaWgmma64x128RegisterA(float (&d)[64], const unsigned (&a)[4],
                                      unsigned long long b, int accumulate) {
  llamaEmuWgmmaRegisterAOf<T, TransB, 128>(d, a, b, accumulate);
}

/// bar.sync Id, count: released when `count` threads wait at barrier Id,
/// or wait there and arrived (bar.arrive) since it last completed.
template <int Id> inline void llamaNamedBarrierSync(unsigned count) {
  llamaEmuNamedBarrier(Id, count);
}
template <int Id> inline void llamaNamedBarrierArrive(unsigned count) {
  llamaEmuNamedBarrierArrive(Id, count);
}
/// setmaxnreg moves registers, which a host thread does not have; it is a
/// warp collective here, as its .sync.aligned form is on the GPU.
template <int Count> inline void llamaRegistersDecrease() {
  llamaEmuSetMaxRegisters(Count);
}
template <int Count> inline void llamaRegistersIncrease() {
  llamaEmuSetMaxRegisters(Count);
}

/// mbarriers live in a side table keyed by their shared address, not in
/// their 8 bytes, so a kernel that overwrites one is not caught. A wait
/// parks the thread until the phase completes; the fence orders nothing.
inline void llamaMbarrierInit(unsigned bar, unsigned count) {
  llamaEmuMbarrierInit(bar, count);
}
inline void llamaFenceMbarrierInit() {}
inline void llamaMbarrierArrive(unsigned bar) {
  llamaEmuMbarrierArrive(bar, 0);
}
inline void llamaMbarrierArriveExpectTx(unsigned bar, unsigned bytes) {
  llamaEmuMbarrierArrive(bar, bytes);
}
inline void llamaMbarrierWait(unsigned bar, unsigned parity) {
  llamaEmuMbarrierWait(bar, parity);
}
/// cp.async.bulk.tensor.2d from a tensor map that the fake driver's
/// cuTensorMapEncodeTiled wrote (EmulatedTensorMap.h). When the copy lands
/// depends on LLAMAC_EMU_TMA (CudaEmulation.cpp).
inline void llamaTmaLoad2d(unsigned dst, const void *map, int inner, int row,
                           unsigned bar) {
  llamaEmuTmaLoad2d(dst, map, inner, row, bar);
}

/// Thread-block clusters: a launch without a cluster shape is a cluster of
/// one CTA. The remote operations trap where a GPU would misbehave: a rank
/// outside the cluster, or a CTA that has exited (its shared memory may be
/// another block's by then).
inline unsigned llamaClusterRank() { return llamaEmuCurrent->clusterRank; }
inline unsigned llamaClusterSize() { return llamaEmuClusterSize; }
/// barrier.cluster.arrive then wait: released once every thread of the
/// cluster that has not exited waits there, as the PTX ISA says.
inline void llamaClusterSync() { llamaEmuClusterSync(); }
/// mbarrier.arrive on the mbarrier at `bar` of CTA `rank` of the cluster.
inline void llamaMbarrierArriveCluster(unsigned bar, unsigned rank) {
  llamaEmuMbarrierArriveCluster(bar, rank);
}
/// llamaTmaLoad2d's box, landing at `dst` of each CTA in ctaMask and
/// completing its bytes on the mbarrier at `bar` of each.
inline void llamaTmaLoad2dMulticast(unsigned dst, const void *map, int inner,
                                    int row, unsigned bar,
                                    unsigned short ctaMask) {
  llamaEmuTmaLoad2dMulticast(dst, map, inner, row, bar, ctaMask);
}

#endif // LLAMAC_TEST_CUDAEMULATION_H
