//===- CudaEmulation.cpp - Runs a CUDA grid as fibers on one host thread --===//
//
// The scheduler behind CudaEmulation.h. A launch runs its blocks one after
// another; the threads of a block are fibers with their own stacks that
// run until they reach a barrier, a warp collective or their end. When no
// fiber can run, a warp whose live lanes all wait at a collective is
// released (and run on), then a block whose live threads all wait at
// __syncthreads.
// Anything else is a deadlock a GPU would also hit (a barrier in divergent
// code), and fails the launch with what each thread waits at.
//
// Warp collectives exchange data through per-warp slots: every lane
// deposits its operand, the warp is released, and each lane computes its
// own result from everyone's operands. A warp runs until all its lanes wait
// at __syncthreads or have ended, releasing its own collectives as it goes.
// cp.async copies are queued per thread and done when cp.async.wait_group
// retires their group, the latest moment the hardware allows, so a read
// before the wait sees stale data; so are wgmma's products, until
// wgmma.wait_group. A wgmma needs no exchange: its operands are in shared
// memory, so each thread computes its own accumulators from them.
//
// Fibers switch with a few instructions of x86-64 assembly (ucontext's
// swapcontext makes a system call per switch, and a block of a
// tensor-core GEMM switches hundreds of thousands of times).
//
//===----------------------------------------------------------------------===//

#include "CudaEmulation.h"

#include "runtime/HalfFloat.h"
#include "runtime/KernelAbi.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <sys/mman.h>
#include <vector>

#if !defined(__x86_64__)
#error "the CUDA kernel emulator switches fibers with x86-64 assembly"
#endif

extern "C" {
/// Saves the callee-saved registers on the current stack, stores the stack
/// pointer in *save and resumes the fiber whose stack pointer is `load`.
void llamaEmuSwitch(void **save, void *load);
}

asm(R"ASM(
  .text
  .p2align 4
  .globl llamaEmuSwitch
  .hidden llamaEmuSwitch
  .type llamaEmuSwitch, @function
llamaEmuSwitch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size llamaEmuSwitch, .-llamaEmuSwitch
)ASM");

extern "C" {
LlamaEmuThreadState *llamaEmuCurrent = nullptr;
LlamaEmuDim3 llamaEmuBlockIdx, llamaEmuBlockDim, llamaEmuGridDim;
alignas(1024) char llamaEmuSharedAnchor[227 * 1024];
}

namespace {

using Kernel = void (*)(LlamaGpuArgs);

constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned kMaxThreads = 1024;

enum class Wait { None, Block, Warp, Done };

struct Copy {
  void *dst;
  const void *src;
  int validBytes;
};

/// One wgmma.mma_async: D (64 x n, f32, this thread's n / 2 values) +=
/// A (64 x 16) B (n x 16)ᵀ, A and B named by shared-memory descriptors.
struct Wgmma {
  float *d;
  int n;
  uint64_t a, b;
  bool accumulate, isBf16, transA, transB;
};

struct Fiber : LlamaEmuThreadState {
  unsigned warp = 0, lane = 0;
  Wait wait = Wait::None;
  /// Barriers and collectives passed: every thread released together must
  /// have passed as many, or they are at different ones.
  uint64_t blockBarriers = 0, warpCollectives = 0;
  const char *waitsAt = "";
  void *stackPointer = nullptr;
  char *stack = nullptr;
  std::vector<Copy> copies;
  /// Number of copies in each committed group, oldest first; copies past
  /// their sum are not committed yet.
  std::vector<size_t> groups;
  /// The same for wgmma's products and their groups.
  std::vector<Wgmma> wgmmas;
  std::vector<size_t> wgmmaGroups;
};

/// One warp's exchange slots, two sets used by alternate collectives: a
/// lane writes set (n + 1) % 2 only after passing collective n, and set
/// n % 2 again only after collective n + 1, which every lane reaches after
/// reading collective n's set. So one barrier per collective suffices.
struct WarpSlotSet {
  uint64_t value[32];
  const void *pointer[32];
  unsigned a[32][4];
  unsigned b[32][2];
};
struct WarpSlots {
  WarpSlotSet sets[2];
};

struct Launch {
  Kernel kernel = nullptr;
  const LlamaGpuArgs *args = nullptr;
  std::vector<Fiber> fibers;
  std::vector<WarpSlots> warps;
  void *schedulerStack = nullptr;
  std::string error;
};

Launch launch;

Fiber &self() { return *static_cast<Fiber *>(llamaEmuCurrent); }

void yieldToScheduler() {
  Fiber &fiber = self();
  llamaEmuSwitch(&fiber.stackPointer, launch.schedulerStack);
}

void finishCopies(Fiber &fiber, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    const Copy &copy = fiber.copies[i];
    std::memcpy(copy.dst, copy.src, size_t(copy.validBytes));
    std::memset(static_cast<char *>(copy.dst) + copy.validBytes, 0,
                size_t(16 - copy.validBytes));
  }
  fiber.copies.erase(fiber.copies.begin(), fiber.copies.begin() + count);
}

[[noreturn]] void fiberMain() {
  launch.kernel(*launch.args);
  Fiber &fiber = self();
  // The hardware completes what a thread left in flight, except an MMA
  // whose registers are gone.
  finishCopies(fiber, fiber.copies.size());
  if (!fiber.wgmmas.empty())
    llamaEmuTrap("exit with a wgmma not retired by wgmma.wait_group");
  fiber.wait = Wait::Done;
  yieldToScheduler();
  __builtin_unreachable();
}

/// A fresh stack that "returns" into fiberMain: six callee-saved registers,
/// then fiberMain's address, then a slot that leaves the stack pointer
/// where a call would (8 below 16-byte alignment) on entry.
void *initialStack(char *stack) {
  uintptr_t top = (uintptr_t(stack) + kStackBytes) & ~uintptr_t(15);
  void **slots = reinterpret_cast<void **>(top);
  slots[-1] = nullptr;
  slots[-2] = reinterpret_cast<void *>(&fiberMain);
  for (int i = 3; i <= 8; ++i)
    slots[-i] = nullptr;
  return &slots[-8];
}

/// The slots of the collective `fiber` is about to join.
WarpSlotSet &mySlots(const Fiber &fiber) {
  return launch.warps[fiber.warp].sets[fiber.warpCollectives % 2];
}

/// Waits at a warp collective; `what` names it in deadlock reports.
void warpBarrier(const char *what) {
  Fiber &fiber = self();
  fiber.wait = Wait::Warp;
  fiber.waitsAt = what;
  yieldToScheduler();
}

std::string describeWaits(size_t begin, size_t end) {
  std::string text;
  for (size_t t = begin; t < end && text.size() < 600; ++t) {
    const Fiber &fiber = launch.fibers[t];
    text += "\n  thread " + std::to_string(t) + ": ";
    switch (fiber.wait) {
    case Wait::None:
      text += "running";
      break;
    case Wait::Done:
      text += "exited";
      break;
    case Wait::Block:
      text += "__syncthreads #" + std::to_string(fiber.blockBarriers + 1);
      break;
    case Wait::Warp:
      text += std::string(fiber.waitsAt) + " #" +
              std::to_string(fiber.warpCollectives + 1);
      break;
    }
  }
  return text;
}

/// Runs the lanes [first, end) of one warp until none can go on, releasing it
/// each time they all wait at the same collective, so that a warp's
/// collectives cost one pass over its lanes. Returns false with
/// launch.error set.
bool runWarp(unsigned first, unsigned end) {
  for (;;) {
    for (unsigned t = first; t < end; ++t) {
      Fiber &fiber = launch.fibers[t];
      if (fiber.wait != Wait::None)
        continue;
      llamaEmuCurrent = &fiber;
      llamaEmuSwitch(&launch.schedulerStack, fiber.stackPointer);
      if (!launch.error.empty())
        return false;
    }
    unsigned waiting = 0, exited = 0;
    for (unsigned t = first; t < end; ++t) {
      waiting += launch.fibers[t].wait == Wait::Warp;
      exited += launch.fibers[t].wait == Wait::Done;
    }
    if (waiting == 0)
      return true;
    if (waiting + exited != end - first)
      return true; // some lanes wait at __syncthreads: a deadlock, reported
                   // by runBlock when the block cannot go on
    uint64_t count = launch.fibers[first].warpCollectives;
    for (unsigned t = first; t < end; ++t) {
      const Fiber &fiber = launch.fibers[t];
      if (exited > 0 || fiber.warpCollectives != count) {
        launch.error = "warp " + std::to_string(first / 32) +
                       (exited ? ": a warp collective with exited lanes"
                               : ": lanes at different warp collectives") +
                       describeWaits(first, end);
        return false;
      }
    }
    for (unsigned t = first; t < end; ++t) {
      launch.fibers[t].wait = Wait::None;
      ++launch.fibers[t].warpCollectives;
    }
  }
}

/// Runs one block to its end. Returns false with launch.error set.
bool runBlock(unsigned threads) {
  for (;;) {
    for (unsigned first = 0; first < threads; first += 32)
      if (!runWarp(first, std::min(first + 32, threads)))
        return false;
    unsigned atBarrier = 0, exited = 0;
    uint64_t count = 0;
    bool sameBarrier = true;
    for (unsigned t = 0; t < threads; ++t) {
      const Fiber &fiber = launch.fibers[t];
      if (fiber.wait == Wait::Done) {
        ++exited;
      } else if (fiber.wait == Wait::Block) {
        if (atBarrier++ == 0)
          count = fiber.blockBarriers;
        sameBarrier &= fiber.blockBarriers == count;
      }
    }
    if (exited == threads)
      return true;
    if (atBarrier + exited != threads || !sameBarrier) {
      launch.error = "deadlock: threads wait at different barriers" +
                     describeWaits(0, threads);
      return false;
    }
    for (unsigned t = 0; t < threads; ++t) {
      Fiber &fiber = launch.fibers[t];
      if (fiber.wait == Wait::Block) {
        fiber.wait = Wait::None;
        ++fiber.blockBarriers;
      }
    }
  }
}

/// Closes a group (cp.async's or wgmma's) of the operations queued since
/// the last: `queued` counts them all, committed or not.
void commitGroup(std::vector<size_t> &groups, size_t queued) {
  size_t committed = 0;
  for (size_t group : groups)
    committed += group;
  groups.push_back(queued - committed);
}

/// Retires the oldest groups until at most `pending` remain; returns how
/// many queued operations they held, oldest first in the queue.
size_t retireGroups(std::vector<size_t> &groups, int pending) {
  size_t retire = 0;
  while (groups.size() > size_t(pending)) {
    retire += groups.front();
    groups.erase(groups.begin());
  }
  return retire;
}

/// An operand of a 16-deep wgmma in shared memory, decoded from its
/// descriptor (PTX ISA, "matrix descriptor format"): bits 0-13 the start
/// address / 16, 16-29 the leading byte offset / 16, 32-45 the stride byte
/// offset / 16, 49-51 the base offset, 62-63 the swizzle mode. Only what
/// the kernels use is emulated: the 128-byte swizzle from a 1024-byte
/// aligned atom, K-major (rows of 64 k, 8-row groups `stride` apart) or,
/// transposed, MN-major (rows of 64 M or N elements, one per k; 8-row
/// groups of k `stride` apart, the next 64 of M or N `leading` on).
struct WgmmaOperand {
  uint32_t start = 0, leading = 0, stride = 0;
  bool mnMajor = false;

  /// Decodes the descriptor of a `rows` x 16 operand, or traps naming what
  /// is not emulated.
  static WgmmaOperand decode(uint64_t descriptor, const char *which,
                             unsigned rows, bool mnMajor) {
    WgmmaOperand operand;
    operand.start = uint32_t(descriptor & 0x3fff) << 4;
    operand.leading = uint32_t((descriptor >> 16) & 0x3fff) << 4;
    operand.stride = uint32_t((descriptor >> 32) & 0x3fff) << 4;
    operand.mnMajor = mnMajor;
    uint32_t base = uint32_t(descriptor >> 49) & 7;
    uint32_t swizzle = uint32_t(descriptor >> 62);
    // One past the last byte the operand covers.
    uint32_t end = mnMajor ? operand.start +
                                 ((rows + 63) / 64 - 1) * operand.leading +
                                 operand.stride + 8 * 128
                           : operand.start + (rows + 7) / 8 * operand.stride;
    static std::string message;
    if (swizzle != 1)
      message = std::string("wgmma: ") + which + "'s swizzle mode " +
                std::to_string(swizzle) +
                " (only the 128-byte swizzle, 1, "
                "is emulated)";
    else if (base != 0 || ((operand.start >> 7) & 7) != 0)
      message = std::string("wgmma: ") + which +
                " does not start in the first row of a 1024-byte aligned "
                "swizzle atom (not emulated)";
    else if (mnMajor && (operand.start & 127) != 0)
      message = std::string("wgmma: ") + which +
                " is MN-major but does not start at a 128-byte row (not "
                "emulated)";
    else if (end > sizeof(llamaEmuSharedAnchor))
      message = std::string("wgmma: ") + which +
                " lies outside the dynamic shared memory";
    else
      return operand;
    llamaEmuTrap(message.c_str());
  }

  /// Element (row, k) of the 16-bit operand, `row` counting along M or N,
  /// its 16-byte chunk XOR-ed with address bits 7-9 (the 128-byte row
  /// within its 1024-byte atom), as the hardware swizzles.
  uint16_t at(unsigned row, unsigned k) const {
    uint32_t address =
        mnMajor ? start + (row / 64) * leading + (k / 8) * stride +
                      (k % 8) * 128 + (row % 64) * 2
                : start + (row / 8) * stride + (row % 8) * 128 + k * 2;
    address ^= ((address >> 7) & 7) << 4;
    uint16_t bits;
    std::memcpy(&bits, llamaEmuSharedAnchor + address, 2);
    return bits;
  }
};

/// Computes one wgmma's share of the accumulators of the thread `index`
/// of its block: in the PTX ISA's layout for m64nNk16 with f32
/// accumulators, warp w of the warpgroup holds rows 16 w to 16 w + 15, and
/// d[i] of lane l is row 16 w + l / 4 + 8 ((i / 2) % 2), column
/// 8 (i / 4) + 2 (l % 4) + i % 2.
void runWgmma(const Wgmma &op, unsigned index) {
  WgmmaOperand a = WgmmaOperand::decode(op.a, "A", 64, op.transA);
  WgmmaOperand b = WgmmaOperand::decode(op.b, "B", unsigned(op.n), op.transB);
  auto value = [&](uint16_t bits) {
    return op.isBf16 ? __bfloat162float(__nv_bfloat16{bits})
                     : __half2float(__half{bits});
  };
  unsigned warp = (index / 32) % 4, lane = index % 32;
  for (int i = 0; i < op.n / 2; ++i) {
    unsigned row = 16 * warp + lane / 4 + 8 * ((i / 2) % 2);
    unsigned column = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
    float sum = 0.0f;
    for (unsigned k = 0; k < 16; ++k)
      sum += value(a.at(row, k)) * value(b.at(column, k));
    op.d[i] = (op.accumulate ? op.d[i] : 0.0f) + sum;
  }
}

} // namespace

extern "C" {

float llamaEmuHalfToFloat(uint16_t bits) {
  return llamac::runtime::f16ToF32(bits);
}
uint16_t llamaEmuFloatToHalf(float value) {
  return llamac::runtime::f32ToF16(value);
}

void llamaEmuSyncThreads(void) {
  Fiber &fiber = self();
  fiber.wait = Wait::Block;
  yieldToScheduler();
}

[[noreturn]] void llamaEmuTrap(const char *what) {
  Fiber &fiber = self();
  launch.error = std::string(what) + " in thread " +
                 std::to_string(&fiber - launch.fibers.data());
  fiber.wait = Wait::Done;
  yieldToScheduler();
  __builtin_unreachable();
}

uint64_t llamaEmuShuffleXor(uint64_t bits, int laneMask, unsigned mask) {
  if (mask != 0xffffffffu)
    llamaEmuTrap("__shfl_xor_sync with a partial mask (not emulated)");
  Fiber &fiber = self();
  WarpSlotSet &slots = mySlots(fiber);
  slots.value[fiber.lane] = bits;
  warpBarrier("__shfl_xor_sync");
  unsigned partner = fiber.lane ^ unsigned(laneMask & 31);
  uint64_t result = slots.value[partner];
  return result;
}

void llamaEmuCpAsync(void *dst, const void *src, int validBytes) {
  if (validBytes < 0 || validBytes > 16)
    llamaEmuTrap("cp.async with a source size outside 0..16");
  self().copies.push_back({dst, src, validBytes});
}

void llamaEmuCpAsyncCommit(void) {
  Fiber &fiber = self();
  commitGroup(fiber.groups, fiber.copies.size());
}

void llamaEmuCpAsyncWait(int pending) {
  Fiber &fiber = self();
  finishCopies(fiber, retireGroups(fiber.groups, pending));
}

/// ldmatrix.x4: lane l names row l % 8 of matrix l / 8; lane l receives,
/// of each matrix i, the two elements of row l / 4 at columns 2 (l % 4)
/// and 2 (l % 4) + 1, the lower one in the low half of r[i].
void llamaEmuLdmatrixX4(unsigned *r, const void *address) {
  Fiber &fiber = self();
  WarpSlotSet &slots = mySlots(fiber);
  slots.pointer[fiber.lane] = address;
  warpBarrier("ldmatrix");
  for (unsigned i = 0; i < 4; ++i) {
    const auto *row =
        static_cast<const uint16_t *>(slots.pointer[i * 8 + fiber.lane / 4]);
    unsigned column = 2 * (fiber.lane % 4);
    r[i] = unsigned(row[column]) | (unsigned(row[column + 1]) << 16);
  }
}

/// ldmatrix.x4.trans: the rows are named as above; lane l receives, of each
/// transposed matrix i, the elements at column l / 4 of rows 2 (l % 4) and
/// 2 (l % 4) + 1.
void llamaEmuLdmatrixX4Trans(unsigned *r, const void *address) {
  Fiber &fiber = self();
  WarpSlotSet &slots = mySlots(fiber);
  slots.pointer[fiber.lane] = address;
  warpBarrier("ldmatrix.trans");
  for (unsigned i = 0; i < 4; ++i) {
    unsigned row = 2 * (fiber.lane % 4), column = fiber.lane / 4;
    const auto *low = static_cast<const uint16_t *>(slots.pointer[i * 8 + row]);
    const auto *high =
        static_cast<const uint16_t *>(slots.pointer[i * 8 + row + 1]);
    r[i] = unsigned(low[column]) | (unsigned(high[column]) << 16);
  }
}

/// mma.m16n8k16 with f16/bf16 inputs and f32 accumulators, in the PTX ISA's
/// fragment layouts, with g = lane / 4 and t = lane % 4:
///   A (16 x 16): a[0] holds (g, 2t..2t+1), a[1] (g + 8, 2t..), a[2]
///                (g, 2t + 8..), a[3] (g + 8, 2t + 8..);
///   B (16 x 8):  b[0] holds (k = 2t..2t+1, n = g), b[1] (k = 2t + 8.., g);
///   C, D:        d[0], d[1] at (g, 2t), (g, 2t + 1); d[2], d[3] at row g + 8.
void llamaEmuMma16816(float *d, const unsigned *a, const unsigned *b,
                      int isBf16) {
  Fiber &fiber = self();
  WarpSlotSet &slots = mySlots(fiber);
  std::memcpy(slots.a[fiber.lane], a, sizeof(slots.a[0]));
  std::memcpy(slots.b[fiber.lane], b, sizeof(slots.b[0]));
  warpBarrier("mma.sync");
  auto element = [&](unsigned reg, unsigned half) {
    uint16_t bits = uint16_t(reg >> (16 * half));
    if (isBf16)
      return __bfloat162float(__nv_bfloat16{bits});
    return __half2float(__half{bits});
  };
  auto aAt = [&](unsigned row, unsigned k) {
    unsigned lane = (row % 8) * 4 + (k % 8) / 2;
    unsigned reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
    return element(slots.a[lane][reg], k % 2);
  };
  auto bAt = [&](unsigned k, unsigned n) {
    unsigned lane = n * 4 + (k % 8) / 2;
    return element(slots.b[lane][k >= 8 ? 1 : 0], k % 2);
  };
  unsigned g = fiber.lane / 4, t = fiber.lane % 4;
  for (unsigned e = 0; e < 4; ++e) {
    unsigned row = g + (e >= 2 ? 8 : 0), column = 2 * t + e % 2;
    // Products of 16-bit floats are exact in f32; the hardware's summation
    // order is unspecified, so this one is as good as any.
    float sum = 0.0f;
    for (unsigned k = 0; k < 16; ++k)
      sum += aAt(row, k) * bAt(k, column);
    d[e] += sum;
  }
}

void llamaEmuWgmma(float *d, int n, uint64_t a, uint64_t b, int accumulate,
                   int isBf16, int transA, int transB) {
  unsigned threads =
      llamaEmuBlockDim.x * llamaEmuBlockDim.y * llamaEmuBlockDim.z;
  if (threads % 128 != 0)
    llamaEmuTrap("wgmma in a block that is not whole warpgroups");
  self().wgmmas.push_back(
      {d, n, a, b, accumulate != 0, isBf16 != 0, transA != 0, transB != 0});
}

void llamaEmuWgmmaCommit(void) {
  Fiber &fiber = self();
  commitGroup(fiber.wgmmaGroups, fiber.wgmmas.size());
}

void llamaEmuWgmmaWait(int pending) {
  Fiber &fiber = self();
  size_t retire = retireGroups(fiber.wgmmaGroups, pending);
  unsigned index = unsigned(&fiber - launch.fibers.data());
  for (size_t i = 0; i < retire; ++i)
    runWgmma(fiber.wgmmas[i], index);
  fiber.wgmmas.erase(fiber.wgmmas.begin(), fiber.wgmmas.begin() + retire);
}

/// Runs `kernel` over the grid. Returns 0, or 1 with a message in `error`.
int llamaEmuLaunch(Kernel kernel, const unsigned grid[3],
                   const unsigned block[3], const LlamaGpuArgs *args,
                   char *error, size_t errorBytes) {
  auto fail = [&](const std::string &message) {
    std::snprintf(error, errorBytes, "%s", message.c_str());
    return 1;
  };
  unsigned threads = block[0] * block[1] * block[2];
  if (threads == 0 || threads > kMaxThreads)
    return fail("block of " + std::to_string(threads) + " threads");
  if (launch.fibers.size() < threads) {
    launch.fibers.resize(threads);
    for (Fiber &fiber : launch.fibers) {
      if (fiber.stack)
        continue;
      void *stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (stack == MAP_FAILED)
        return fail("cannot map a fiber stack");
      fiber.stack = static_cast<char *>(stack);
    }
  }
  launch.warps.resize((threads + 31) / 32);
  launch.kernel = kernel;
  launch.args = args;
  launch.error.clear();
  llamaEmuGridDim = {grid[0], grid[1], grid[2]};
  llamaEmuBlockDim = {block[0], block[1], block[2]};
  for (unsigned z = 0; z < grid[2]; ++z)
    for (unsigned y = 0; y < grid[1]; ++y)
      for (unsigned x = 0; x < grid[0]; ++x) {
        llamaEmuBlockIdx = {x, y, z};
        for (unsigned t = 0; t < threads; ++t) {
          Fiber &fiber = launch.fibers[t];
          fiber.index = {t % block[0], (t / block[0]) % block[1],
                         t / (block[0] * block[1])};
          fiber.warp = t / 32;
          fiber.lane = t % 32;
          fiber.wait = Wait::None;
          fiber.blockBarriers = fiber.warpCollectives = 0;
          fiber.copies.clear();
          fiber.groups.clear();
          fiber.wgmmas.clear();
          fiber.wgmmaGroups.clear();
          fiber.stackPointer = initialStack(fiber.stack);
        }
        if (!runBlock(threads)) {
          llamaEmuCurrent = nullptr;
          return fail("block (" + std::to_string(x) + ", " +
                      std::to_string(y) + ", " + std::to_string(z) +
                      "): " + launch.error);
        }
      }
  llamaEmuCurrent = nullptr;
  return 0;
}

} // extern "C"
