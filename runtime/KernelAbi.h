/*===- KernelAbi.h - How the runtime calls generated CPU kernels -*- C -*-===*\
|*                                                                          *|
|* Shared by the runtime and the C++ that codegen emits for the CPU target.   *|
|* It is plain C so that it can be pasted verbatim into generated sources.   *|
|* Every kernel has the same signature, so the runtime needs to know nothing *|
|* about the op a kernel implements: it passes the buffers the launch names, *|
|* in order (the op's tensor operands, then its results), and the context.   *|
|*                                                                          *|
\*===----------------------------------------------------------------------===*/

#ifndef LLAMAC_RUNTIME_KERNELABI_H
#define LLAMAC_RUNTIME_KERNELABI_H

#include <stdint.h>

#define LLAMA_KERNEL_ABI_VERSION 2

/* Per-call values that kernels specialized on everything else still need. */
typedef struct LlamaKernelContext {
  /* Batch rows of this call. */
  int64_t batch;
  /* Tokens per batch row in this call (the dynamic sequence dimension). */
  int64_t seq;
  /* Absolute position of the first token: where RoPE starts, where the KV
     cache is written, and how many cached rows attention reads before it. */
  int32_t position;
  /* Threads a kernel may use; 1 runs it on the calling thread. */
  int32_t numThreads;
} LlamaKernelContext;

typedef void (*LlamaCpuKernel)(void *const *buffers,
                               const LlamaKernelContext *context);

/* GPU kernels take their buffers and context by value in one parameter,
   since a device cannot read the host's pointer array:
     extern "C" __global__ void SYM(const __grid_constant__ LlamaGpuArgs args);
   A launch naming at most LLAMA_MAX_KERNEL_BUFFERS buffers passes their
   addresses in args.buffers, in the launch's order. A GPU launch naming more
   than LLAMA_MAX_KERNEL_BUFFERS buffers passes them through a table in
   device memory: args.buffers[0] is the device address of an array of the
   launch's buffer addresses (void*, in the launch's order) and the other
   args.buffers entries are null. Only optimizer ops (a gradient norm over
   every gradient, an update of a whole parameter group) name that many; a
   larger fixed array would make every launch's parameters bigger, and the
   table is written once, when the runtime allocates the buffers, so it
   costs nothing per call and a captured CUDA graph stays valid. */
#define LLAMA_MAX_KERNEL_BUFFERS 12
/* The most buffers a GPU launch may name through its table: far more than
   any model's gradients, and small enough that the table (512 KiB) is never
   a sizeable allocation. The artifact verifier enforces it. */
#define LLAMA_MAX_TABLE_BUFFERS 65536
/* sm_90a kernels load some tiles with the Tensor Memory Accelerator,
   which reads a tensor map: the driver's CUtensorMap, 128 opaque bytes,
   128-byte aligned (as cuda.h declares it), made on the host by
   cuTensorMapEncodeTiled. The runtime encodes one per entry of the
   kernel's tensor-map list
   (artifact::TensorMapSpec) for the buffers of each launch, once at
   creation, and passes them here in that order; unused entries are zero,
   and kernels compiled for other archs ignore them. TMA instructions name
   a tensor map by its generic address in kernel parameter space, which
   only a `const __grid_constant__` parameter has, so GPU kernels declare
   their argument that way. Artifacts compiled before this field existed
   declare a shorter parameter, and the driver copies only its length. */
#define LLAMA_MAX_TENSOR_MAPS 4
#ifdef __cplusplus
#define LLAMA_ALIGN_128 alignas(128)
#else
#define LLAMA_ALIGN_128 _Alignas(128)
#endif
typedef struct LlamaGpuTensorMap {
  LLAMA_ALIGN_128 uint64_t opaque[16];
} LlamaGpuTensorMap;
typedef struct LlamaGpuArgs {
  void *buffers[LLAMA_MAX_KERNEL_BUFFERS];
  LlamaKernelContext context;
  /* The call's position in device memory, written by the runtime before
     the call's kernels run. GPU kernels read the position here rather than
     from context.position, so that a captured CUDA graph, whose kernel
     parameters are frozen, replays for every decode position. */
  const int32_t *livePosition;
  LlamaGpuTensorMap tensorMaps[LLAMA_MAX_TENSOR_MAPS];
} LlamaGpuArgs;

#endif /* LLAMAC_RUNTIME_KERNELABI_H */
