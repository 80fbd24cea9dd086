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
     extern "C" __global__ void SYM(LlamaGpuArgs args);
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
typedef struct LlamaGpuArgs {
  void *buffers[LLAMA_MAX_KERNEL_BUFFERS];
  LlamaKernelContext context;
  /* The call's position in device memory, written by the runtime before
     the call's kernels run. GPU kernels read the position here rather than
     from context.position, so that a captured CUDA graph, whose kernel
     parameters are frozen, replays for every decode position. */
  const int32_t *livePosition;
} LlamaGpuArgs;

#endif /* LLAMAC_RUNTIME_KERNELABI_H */
