//===- CudaEmulation.cpp - Runs a CUDA grid as fibers on one host thread --===//
//
// The scheduler behind CudaEmulation.h. A launch runs its blocks one after
// another; the threads of a block are fibers with their own stacks that
// run until they reach a barrier, a warp collective, an mbarrier wait or
// their end. When no fiber can run, a warp whose live lanes all wait at a
// collective is released (and run on), then a block whose live threads all
// wait at __syncthreads; the threads at a named barrier (bar.sync id,
// count) go on once `count` of them wait there or arrived (bar.arrive)
// since it last completed; a block that exits with arrivals no bar.sync
// completed fails. A thread waiting on an
// mbarrier runs again when the phase it waits for completes, whoever
// completes it.
// Anything else is a deadlock a GPU would also hit (a barrier in divergent
// code, a phase that never completes), and fails the launch with what each
// thread waits at.
//
// Warp collectives exchange data through per-warp slots: every lane
// deposits its operand, the warp is released, and each lane computes its
// own result from everyone's operands. A warp runs until all its lanes wait
// at __syncthreads or have ended, releasing its own collectives as it goes.
// cp.async copies are queued per thread and done when cp.async.wait_group
// retires their group, the latest moment the hardware allows, so a read
// before the wait sees stale data; so are wgmma's products, until
// wgmma.wait_group. A wgmma needs no exchange: its operands are in shared
// memory, so each thread computes its own accumulators from them. The wait
// is a warp collective, as its .sync.aligned form is on the GPU.
//
// mbarriers live in a per-block side table keyed by their shared address;
// each holds the threads parked on its current phase. An arrival that
// completes a phase runs one of them at once (handOff), before the
// arriving thread goes on: the quickest producer a GPU could have. TMA tile
// loads (cp.async.bulk.tensor) complete_tx on their mbarrier when they land,
// which LLAMAC_EMU_TMA chooses: `issue` (the default) lands a copy at once,
// so a producer that refills a stage before the wgmma reading it retired
// (they run at wgmma.wait_group) corrupts the product; `wait` queues it
// until a thread waits on its mbarrier, or until nothing else can run, so
// a consumer that reads a stage without waiting on its mbarrier sees stale
// data. A block that exits with a copy still queued fails.
//
// Fibers switch with a few instructions of x86-64 assembly (ucontext's
// swapcontext makes a system call per switch, and a block of a
// tensor-core GEMM switches hundreds of thousands of times).
//
//===----------------------------------------------------------------------===//

#include "CudaEmulation.h"
#include "EmulatedTensorMap.h"

#include "runtime/HalfFloat.h"
#include "runtime/KernelAbi.h"

#include <algorithm>
#include <array>
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

enum class Wait { None, Block, Named, Warp, Mbarrier, Done };

struct Copy {
  void *dst;
  const void *src;
  int validBytes;
};

/// One wgmma.mma_async: D (64 x n, f32, this thread's n / 2 values) +=
/// A (64 x 16) B (n x 16)ᵀ, B named by a shared-memory descriptor, and A
/// by one too or, with registerA, held in registers: then aRows is the
/// issuing warp's 16 rows of A (row-major, 16-bit bits), gathered from its
/// lanes when the wgmma is issued.
struct Wgmma {
  float *d;
  int n;
  uint64_t a, b;
  bool accumulate, isBf16, transA, transB;
  bool registerA = false;
  std::array<uint16_t, 16 * 16> aRows{};
};

struct Fiber : LlamaEmuThreadState {
  unsigned warp = 0, lane = 0;
  Wait wait = Wait::None;
  /// Barriers and collectives passed: every thread released together must
  /// have passed as many, or they are at different ones.
  uint64_t blockBarriers = 0, warpCollectives = 0;
  const char *waitsAt = "";
  /// The mbarrier and phase parity a Wait::Mbarrier thread waits for, or
  /// the named barrier (bar.sync id, count) a Wait::Named thread waits at.
  unsigned waitBarrier = 0, waitParity = 0;
  unsigned namedBarrier = 0, namedCount = 0;
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

/// An mbarrier object: its phase completes when no arrivals are pending
/// and its tx-count is 0 (it may go negative when a copy lands before its
/// expect_tx).
struct Mbarrier {
  unsigned address = 0;
  unsigned expected = 0, pending = 0;
  int64_t txCount = 0;
  uint64_t phase = 0;
  /// The threads parked on the current phase.
  std::vector<unsigned> waiters;
};

/// One cp.async.bulk.tensor.2d, validated when issued, so that it can land
/// outside any fiber; the map is a copy, as the issuing thread may exit.
struct TmaCopy {
  LlamaEmuTensorMap map;
  unsigned dst;
  int inner, row;
  unsigned bar;
};

struct Launch {
  Kernel kernel = nullptr;
  const LlamaGpuArgs *args = nullptr;
  /// The launch's dynamic shared memory: the bytes of llamaEmuSharedAnchor
  /// that TMA copies and wgmma operands may touch.
  unsigned sharedBytes = 0;
  std::vector<Fiber> fibers;
  std::vector<WarpSlots> warps;
  void *schedulerStack = nullptr;
  std::string error;
  /// The block's mbarriers (a GEMM has a handful: a linear search wins).
  std::vector<Mbarrier> mbarriers;
  /// bar.arrive's arrivals at each named barrier since it last completed,
  /// and the thread count they gave.
  struct NamedArrivals {
    unsigned arrived = 0, count = 0;
  };
  std::array<NamedArrivals, 16> arrivals;
  /// LLAMAC_EMU_TMA=wait: TMA copies not landed yet, oldest first.
  bool tmaAtWait = false;
  std::vector<TmaCopy> tmaCopies;
};

Launch launch;

Fiber &self() { return *static_cast<Fiber *>(llamaEmuCurrent); }

void yieldToScheduler() {
  Fiber &fiber = self();
  llamaEmuSwitch(&fiber.stackPointer, launch.schedulerStack);
}

/// Runs thread `t` at once, before the calling thread goes on: it resumes
/// when the scheduler next gets to it. An mbarrier arrival that completes a
/// phase hands off to a thread waiting for it, so that a producer refills a
/// released stage (its TMA copies landing at issue) before the consumer
/// that released it takes another step: a consumer that releases a stage
/// while a wgmma of its own still reads it then traps, as it would corrupt
/// the product on a GPU whenever the producer is that quick.
void handOff(unsigned t) {
  Fiber &fiber = self();
  llamaEmuCurrent = &launch.fibers[t];
  llamaEmuSwitch(&fiber.stackPointer, launch.fibers[t].stackPointer);
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

std::string hex(unsigned value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%x", value);
  return text;
}

std::string describeWait(const Fiber &fiber) {
  switch (fiber.wait) {
  case Wait::None:
    return "running";
  case Wait::Done:
    return "exited";
  case Wait::Block:
    return "__syncthreads #" + std::to_string(fiber.blockBarriers + 1);
  case Wait::Named:
    return "bar.sync " + std::to_string(fiber.namedBarrier) + ", " +
           std::to_string(fiber.namedCount);
  case Wait::Warp:
    return std::string(fiber.waitsAt) + " #" +
           std::to_string(fiber.warpCollectives + 1);
  case Wait::Mbarrier:
    return "mbarrier " + hex(fiber.waitBarrier) + " parity " +
           std::to_string(fiber.waitParity);
  }
  return "";
}

/// What threads [begin, end) wait at, runs of threads that wait at the same
/// place on one line, so that a block of GEMM warpgroups reads at a glance.
std::string describeWaits(size_t begin, size_t end) {
  std::string text;
  for (size_t t = begin; t < end && text.size() < 600;) {
    std::string what = describeWait(launch.fibers[t]);
    size_t last = t;
    while (last + 1 < end && describeWait(launch.fibers[last + 1]) == what)
      ++last;
    text += last == t ? "\n  thread " + std::to_string(t)
                      : "\n  threads " + std::to_string(t) + "-" +
                            std::to_string(last);
    text += ": " + what;
    t = last + 1;
  }
  return text;
}

/// Copies a validated TMA box into shared memory: rows consecutive, the
/// elements outside the tensor zeros, and with the 128-byte swizzle each
/// 16-byte chunk XOR-ed with address bits 7-9, as wgmma reads it back.
void copyBox(const TmaCopy &copy) {
  const LlamaEmuTensorMap &map = copy.map;
  size_t elementBytes = map.elementBytes;
  size_t rowBytes = map.box[0] * elementBytes;
  const char *global =
      reinterpret_cast<const char *>(uintptr_t(map.globalAddress));
  int64_t first = std::max<int64_t>(copy.inner, 0);
  int64_t last =
      std::min<int64_t>(int64_t(copy.inner) + map.box[0], int64_t(map.dims[0]));
  char line[256 * 4];
  for (uint32_t r = 0; r < map.box[1]; ++r) {
    int64_t y = int64_t(copy.row) + r;
    std::memset(line, 0, rowBytes);
    if (y >= 0 && y < int64_t(map.dims[1]) && first < last)
      std::memcpy(line + (first - copy.inner) * elementBytes,
                  global + y * map.strides[0] + first * elementBytes,
                  size_t(last - first) * elementBytes);
    uint32_t address = copy.dst + r * uint32_t(rowBytes);
    if (map.swizzleBytes == 0) {
      std::memcpy(llamaEmuSharedAnchor + address, line, rowBytes);
      continue;
    }
    for (uint32_t chunk = 0; chunk < rowBytes; chunk += 16) {
      uint32_t at = address + chunk;
      std::memcpy(llamaEmuSharedAnchor + (at ^ (((at >> 7) & 7) << 4)),
                  line + chunk, 16);
    }
  }
}

Mbarrier *findMbarrier(unsigned address) {
  for (Mbarrier &barrier : launch.mbarriers)
    if (barrier.address == address)
      return &barrier;
  return nullptr;
}

/// The initialized mbarrier at `bar`; traps naming `what` otherwise.
Mbarrier &mbarrierAt(unsigned bar, const char *what) {
  if (Mbarrier *barrier = findMbarrier(bar))
    return *barrier;
  static std::string message;
  message = std::string(what) + " on mbarrier " + hex(bar) +
            ", which mbarrier.init has not initialized";
  llamaEmuTrap(message.c_str());
}

/// Completes the current phase if nothing is pending, waking its waiters.
void completeIfDone(Mbarrier &barrier) {
  if (barrier.pending != 0 || barrier.txCount != 0)
    return;
  ++barrier.phase;
  barrier.pending = barrier.expected;
  for (unsigned t : barrier.waiters)
    launch.fibers[t].wait = Wait::None;
  barrier.waiters.clear();
}

/// Traps when shared memory [begin, end) holds an operand of a wgmma that
/// some thread issued and has not retired (defined after WgmmaOperand).
void checkNoPendingWgmmaReads(uint32_t begin, uint32_t end);

/// The bytes of one box of `map`: what a copy writes and completes.
int64_t boxBytes(const LlamaEmuTensorMap &map) {
  return int64_t(map.box[0]) * map.box[1] * map.elementBytes;
}

/// Writes a TMA copy's box and performs its complete_tx.
void landTmaCopy(const TmaCopy &copy) {
  int64_t bytes = boxBytes(copy.map);
  checkNoPendingWgmmaReads(copy.dst,
                           copy.dst + uint32_t((bytes + 127) / 128 * 128));
  copyBox(copy);
  if (Mbarrier *barrier = findMbarrier(copy.bar)) {
    barrier->txCount -= bytes;
    completeIfDone(*barrier);
  }
}

/// Lands the queued TMA copies that signal `barrier`, oldest first, until
/// its current phase completes; returns whether any landed.
bool landTmaCopies(Mbarrier &barrier) {
  uint64_t phase = barrier.phase;
  bool landed = false;
  std::vector<TmaCopy> &copies = launch.tmaCopies;
  for (size_t i = 0; i < copies.size() && barrier.phase == phase;) {
    if (copies[i].bar != barrier.address) {
      ++i;
      continue;
    }
    TmaCopy copy = copies[i];
    copies.erase(copies.begin() + std::ptrdiff_t(i));
    landTmaCopy(copy);
    landed = true;
  }
  return landed;
}

/// When no thread can run: lands the queued copies of the mbarriers that
/// threads wait on, the latest moment they can. Returns whether any landed.
bool landStalledTmaCopies() {
  bool landed = false;
  for (Mbarrier &barrier : launch.mbarriers)
    if (!barrier.waiters.empty())
      landed |= landTmaCopies(barrier);
  return landed;
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
    unsigned waiting = 0, exited = 0, runnable = 0;
    for (unsigned t = first; t < end; ++t) {
      waiting += launch.fibers[t].wait == Wait::Warp;
      exited += launch.fibers[t].wait == Wait::Done;
      runnable += launch.fibers[t].wait == Wait::None;
    }
    if (runnable != 0)
      continue; // woken from an mbarrier by a later lane
    if (waiting == 0)
      return true;
    if (waiting + exited != end - first)
      return true; // some lanes wait at __syncthreads or an mbarrier: they
                   // may be released by other warps, or runBlock reports
                   // the deadlock when the block cannot go on
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

/// Releases the named barriers (bar.sync id, count) at which `count`
/// threads wait. Returns whether it released any; sets launch.error when
/// threads wait at one with different counts, or more than its count.
bool releaseNamedBarriers(unsigned threads) {
  bool released = false;
  for (unsigned id = 1; id < 16; ++id) {
    Launch::NamedArrivals &arrivals = launch.arrivals[id];
    unsigned waiting = 0, count = arrivals.count;
    for (unsigned t = 0; t < threads; ++t) {
      const Fiber &fiber = launch.fibers[t];
      if (fiber.wait != Wait::Named || fiber.namedBarrier != id)
        continue;
      if (waiting++ == 0 && arrivals.arrived == 0)
        count = fiber.namedCount;
      if (fiber.namedCount != count || waiting + arrivals.arrived > count) {
        launch.error = "bar.sync " + std::to_string(id) +
                       ": threads wait with different counts (or arrive "
                       "with another), or more than their count" +
                       describeWaits(0, threads);
        return false;
      }
    }
    if (waiting == 0 || waiting + arrivals.arrived != count)
      continue;
    arrivals = {};
    for (unsigned t = 0; t < threads; ++t) {
      Fiber &fiber = launch.fibers[t];
      if (fiber.wait == Wait::Named && fiber.namedBarrier == id)
        fiber.wait = Wait::None;
    }
    released = true;
  }
  return released;
}

/// Runs one block to its end. Returns false with launch.error set.
bool runBlock(unsigned threads) {
  for (;;) {
    for (unsigned first = 0; first < threads; first += 32)
      if (!runWarp(first, std::min(first + 32, threads)))
        return false;
    unsigned atBarrier = 0, exited = 0, runnable = 0, atMbarrier = 0;
    uint64_t count = 0;
    bool sameBarrier = true;
    for (unsigned t = 0; t < threads; ++t) {
      const Fiber &fiber = launch.fibers[t];
      if (fiber.wait == Wait::Done) {
        ++exited;
      } else if (fiber.wait == Wait::None) {
        ++runnable;
      } else if (fiber.wait == Wait::Mbarrier) {
        ++atMbarrier;
      } else if (fiber.wait == Wait::Block) {
        if (atBarrier++ == 0)
          count = fiber.blockBarriers;
        sameBarrier &= fiber.blockBarriers == count;
      }
    }
    if (exited == threads) {
      for (unsigned id = 1; id < 16; ++id)
        if (launch.arrivals[id].arrived != 0) {
          launch.error = "exit with " +
                         std::to_string(launch.arrivals[id].arrived) +
                         " arrivals (bar.arrive) at named barrier " +
                         std::to_string(id) + " that no bar.sync completed";
          return false;
        }
      if (launch.tmaCopies.empty())
        return true;
      launch.error = "exit with a TMA copy in flight (to mbarrier " +
                     hex(launch.tmaCopies.front().bar) +
                     ", on which no thread waited)";
      return false;
    }
    if (runnable != 0)
      continue; // woken from an mbarrier by a later warp
    if (releaseNamedBarriers(threads))
      continue;
    if (!launch.error.empty())
      return false;
    if (atBarrier + exited != threads || !sameBarrier) {
      if (landStalledTmaCopies())
        continue;
      launch.error = atMbarrier == 0
                         ? "deadlock: threads wait at different barriers"
                         : "deadlock: no thread can go on, and no mbarrier "
                           "phase they wait for can complete";
      launch.error += describeWaits(0, threads);
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
    // One past the last byte the operand covers. A K-major operand may
    // start within its first 128-byte row (a step along K), and the
    // swizzle moves its bytes anywhere in their rows.
    uint32_t end =
        mnMajor ? operand.start + ((rows + 63) / 64 - 1) * operand.leading +
                      operand.stride + 8 * 128
                : (operand.start & ~127u) + (rows + 7) / 8 * operand.stride;
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
    else if (end > launch.sharedBytes)
      message = std::string("wgmma: ") + which + " ends at byte " +
                std::to_string(end) + ", past the launch's " +
                std::to_string(launch.sharedBytes) +
                " bytes of dynamic shared memory";
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

void checkNoPendingWgmmaReads(uint32_t begin, uint32_t end) {
  for (size_t t = 0; t < launch.fibers.size(); ++t) {
    for (const Wgmma &op : launch.fibers[t].wgmmas) {
      for (int which = op.registerA ? 1 : 0; which < 2; ++which) {
        const char *name = which ? "B" : "A";
        unsigned rows = which ? unsigned(op.n) : 64;
        bool mnMajor = which ? op.transB : op.transA;
        WgmmaOperand operand =
            WgmmaOperand::decode(which ? op.b : op.a, name, rows, mnMajor);
        // The 128-byte rows it reads (a K-major start steps within them).
        uint32_t first = operand.start & ~127u;
        uint32_t last = operand.mnMajor
                            ? first + ((rows + 63) / 64 - 1) * operand.leading +
                                  operand.stride + 8 * 128
                            : first + (rows + 7) / 8 * operand.stride;
        if (first < end && begin < last) {
          static std::string message;
          message = "cp.async.bulk.tensor: a TMA copy into shared memory " +
                    hex(begin) + ".." + hex(end) + " overwrites operand " +
                    name + " (" + hex(first) + ".." + hex(last) +
                    ") of a wgmma that thread " + std::to_string(t) +
                    " has not retired (wgmma.wait_group)";
          llamaEmuTrap(message.c_str());
        }
      }
    }
  }
}

/// Computes one wgmma's share of the accumulators of the thread `index`
/// of its block: in the PTX ISA's layout for m64nNk16 with f32
/// accumulators, warp w of the warpgroup holds rows 16 w to 16 w + 15, and
/// d[i] of lane l is row 16 w + l / 4 + 8 ((i / 2) % 2), column
/// 8 (i / 4) + 2 (l % 4) + i % 2.
void runWgmma(const Wgmma &op, unsigned index) {
  WgmmaOperand a;
  if (!op.registerA)
    a = WgmmaOperand::decode(op.a, "A", 64, op.transA);
  WgmmaOperand b = WgmmaOperand::decode(op.b, "B", unsigned(op.n), op.transB);
  auto value = [&](uint16_t bits) {
    return op.isBf16 ? __bfloat162float(__nv_bfloat16{bits})
                     : __half2float(__half{bits});
  };
  unsigned warp = (index / 32) % 4, lane = index % 32;
  // The rows of A this thread's accumulators need are its own warp's.
  auto aAt = [&](unsigned row, unsigned k) {
    return op.registerA ? op.aRows[(row % 16) * 16 + k] : a.at(row, k);
  };
  for (int i = 0; i < op.n / 2; ++i) {
    unsigned row = 16 * warp + lane / 4 + 8 * ((i / 2) % 2);
    unsigned column = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
    float sum = 0.0f;
    for (unsigned k = 0; k < 16; ++k)
      sum += value(aAt(row, k)) * value(b.at(column, k));
    op.d[i] = (op.accumulate ? op.d[i] : 0.0f) + sum;
  }
}

/// The 16-bit element (row, k) of a warp's m16n8k16 A fragments, from the
/// lanes' registers as exchanged: register r of lane l holds row
/// l / 4 + 8 (r % 2), k 2 (l % 4) + 8 (r / 2) and the next.
uint16_t aFragmentBits(const unsigned (&a)[32][4], unsigned row, unsigned k) {
  unsigned lane = (row % 8) * 4 + (k % 8) / 2;
  unsigned reg = (row >= 8 ? 1 : 0) + (k >= 8 ? 2 : 0);
  return uint16_t(a[lane][reg] >> (16 * (k % 2)));
}

/// wgmma is a warpgroup's instruction: the block must be whole warpgroups.
void requireWholeWarpgroups() {
  unsigned threads =
      llamaEmuBlockDim.x * llamaEmuBlockDim.y * llamaEmuBlockDim.z;
  if (threads % 128 != 0)
    llamaEmuTrap("wgmma in a block that is not whole warpgroups");
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

void llamaEmuNamedBarrier(unsigned id, unsigned count) {
  if (id == 0 || id > 15)
    llamaEmuTrap("bar.sync with a barrier other than 1-15 (0 is "
                 "__syncthreads's; a count on it is not emulated)");
  if (count == 0 || count % 32 != 0 || count > launch.fibers.size())
    llamaEmuTrap("bar.sync with a thread count that is not whole warps of "
                 "the block");
  Fiber &fiber = self();
  fiber.wait = Wait::Named;
  fiber.namedBarrier = id;
  fiber.namedCount = count;
  yieldToScheduler();
}

void llamaEmuNamedBarrierArrive(unsigned id, unsigned count) {
  if (id == 0 || id > 15)
    llamaEmuTrap("bar.arrive with a barrier other than 1-15");
  if (count == 0 || count % 32 != 0 || count > launch.fibers.size())
    llamaEmuTrap("bar.arrive with a thread count that is not whole warps of "
                 "the block");
  Launch::NamedArrivals &arrivals = launch.arrivals[id];
  if (arrivals.arrived > 0 && arrivals.count != count)
    llamaEmuTrap("bar.arrive with another count than the barrier's earlier "
                 "arrivals");
  arrivals.count = count;
  if (++arrivals.arrived == count)
    arrivals = {}; // completed by arrivals alone
}

void llamaEmuSetMaxRegisters(unsigned count) {
  if (count < 24 || count > 256 || count % 8 != 0)
    llamaEmuTrap("setmaxnreg with a count outside 24-256 or not a multiple "
                 "of 8");
  warpBarrier("setmaxnreg");
}

void llamaEmuSyncWarp(unsigned mask) {
  if (mask != 0xffffffffu)
    llamaEmuTrap("__syncwarp with a partial mask (not emulated)");
  warpBarrier("__syncwarp");
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
  auto value = [&](uint16_t bits) {
    if (isBf16)
      return __bfloat162float(__nv_bfloat16{bits});
    return __half2float(__half{bits});
  };
  auto aAt = [&](unsigned row, unsigned k) {
    return value(aFragmentBits(slots.a, row, k));
  };
  auto bAt = [&](unsigned k, unsigned n) {
    unsigned lane = n * 4 + (k % 8) / 2;
    return value(uint16_t(slots.b[lane][k >= 8 ? 1 : 0] >> (16 * (k % 2))));
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
  requireWholeWarpgroups();
  self().wgmmas.push_back(
      {d, n, a, b, accumulate != 0, isBf16 != 0, transA != 0, transB != 0});
}

void llamaEmuWgmmaRegisterA(float *d, int n, const unsigned *a, uint64_t b,
                            int accumulate, int isBf16, int transB) {
  requireWholeWarpgroups();
  // A's fragments are mma.sync's m16n8k16 A layout over the warp's 16 rows.
  // The hardware reads them asynchronously, so a kernel must leave them
  // alone until wgmma.wait_group; this copy, taken at issue, does not check
  // that.
  Fiber &fiber = self();
  WarpSlotSet &slots = mySlots(fiber);
  std::memcpy(slots.a[fiber.lane], a, sizeof(slots.a[0]));
  warpBarrier("wgmma.mma_async");
  Wgmma op{d, n, 0, b, accumulate != 0, isBf16 != 0, false, transB != 0};
  op.registerA = true;
  for (unsigned row = 0; row < 16; ++row)
    for (unsigned k = 0; k < 16; ++k)
      op.aRows[row * 16 + k] = aFragmentBits(slots.a, row, k);
  fiber.wgmmas.push_back(op);
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
  // wgmma.wait_group.sync.aligned: a warp's lanes pass it together, so once
  // one lane is past it every lane's products have retired, and kernels may
  // let one lane speak for the warp (an mbarrier arrival that frees the
  // stage the products read).
  warpBarrier("wgmma.wait_group");
}

void llamaEmuMbarrierInit(unsigned bar, unsigned count) {
  static std::string message;
  if (bar % 8 != 0)
    message = "mbarrier.init: mbarrier " + hex(bar) + " is not 8-byte aligned";
  else if (count == 0 || count >= (1u << 20))
    message = "mbarrier.init: arrival count " + std::to_string(count) +
              " outside 1..2^20-1";
  else if (Mbarrier *barrier = findMbarrier(bar);
           barrier && !barrier->waiters.empty())
    message = "mbarrier.init: mbarrier " + hex(bar) + " has waiting threads";
  else
    message.clear();
  if (!message.empty())
    llamaEmuTrap(message.c_str());
  Mbarrier *barrier = findMbarrier(bar);
  if (!barrier) {
    launch.mbarriers.emplace_back();
    barrier = &launch.mbarriers.back();
    barrier->address = bar;
  }
  barrier->expected = barrier->pending = count;
  barrier->txCount = 0;
  barrier->phase = 0;
}

void llamaEmuMbarrierArrive(unsigned bar, unsigned txBytes) {
  Mbarrier &barrier = mbarrierAt(bar, "mbarrier.arrive");
  static std::string message;
  if (barrier.pending == 0) {
    message = "mbarrier.arrive on mbarrier " + hex(bar) +
              " with no arrivals pending in its phase";
    llamaEmuTrap(message.c_str());
  }
  barrier.txCount += txBytes;
  if (barrier.txCount >= (int64_t(1) << 20)) {
    message =
        "mbarrier.expect_tx on mbarrier " + hex(bar) + ": tx-count past 2^20-1";
    llamaEmuTrap(message.c_str());
  }
  --barrier.pending;
  const uint64_t phase = barrier.phase;
  const unsigned woken = barrier.waiters.empty() ? 0 : barrier.waiters.front();
  const bool anyWaiter = !barrier.waiters.empty();
  completeIfDone(barrier);
  if (barrier.phase != phase && anyWaiter)
    handOff(woken);
}

void llamaEmuMbarrierWait(unsigned bar, unsigned parity) {
  Mbarrier &barrier = mbarrierAt(bar, "mbarrier.try_wait");
  parity &= 1;
  if ((barrier.phase & 1) != parity)
    return;
  if (launch.tmaAtWait && landTmaCopies(barrier) &&
      (barrier.phase & 1) != parity)
    return;
  Fiber &fiber = self();
  fiber.wait = Wait::Mbarrier;
  fiber.waitBarrier = bar;
  fiber.waitParity = parity;
  barrier.waiters.push_back(unsigned(&fiber - launch.fibers.data()));
  yieldToScheduler();
}

void llamaEmuTmaLoad2d(unsigned dst, const void *map, int inner, int row,
                       unsigned bar) {
  TmaCopy copy;
  std::memcpy(&copy.map, map, sizeof(copy.map));
  copy.dst = dst;
  copy.inner = inner;
  copy.row = row;
  copy.bar = bar;
  const LlamaEmuTensorMap &m = copy.map;
  // With the 128-byte swizzle, the last 128-byte line may be partly filled
  // and the XOR moves chunks within it.
  int64_t bytes = boxBytes(m);
  int64_t span = m.swizzleBytes ? (bytes + 127) / 128 * 128 : bytes;
  unsigned align = m.swizzleBytes == 128 ? 1024 : 128;
  static std::string message;
  const std::string what = "cp.async.bulk.tensor.2d: ";
  if (uintptr_t(map) % 64 != 0)
    message = what + "the tensor map is not 64-byte aligned";
  else if (m.magic != kLlamaEmuTensorMapMagic)
    message = what + "the tensor map was not encoded by the fake driver's "
                     "cuTensorMapEncodeTiled (bad magic)";
  else if (m.rank != 2)
    message = what + "a rank-" + std::to_string(m.rank) + " tensor map";
  else if (m.swizzleBytes != 0 && m.swizzleBytes != 128)
    message = what + "the " + std::to_string(m.swizzleBytes) +
              "-byte swizzle (not emulated)";
  else if (dst % align != 0)
    message = what + "shared destination " + hex(dst) + " is not " +
              std::to_string(align) + "-byte aligned";
  else if (int32_t(dst) < 0 ||
           int64_t(int32_t(dst)) + span > int64_t(launch.sharedBytes))
    message = what + "a box of " + std::to_string(bytes) + " bytes at " +
              hex(dst) + " runs past the launch's " +
              std::to_string(launch.sharedBytes) +
              " bytes of dynamic shared memory";
  else
    message.clear();
  if (!message.empty())
    llamaEmuTrap(message.c_str());
  mbarrierAt(bar, "cp.async.bulk.tensor.2d");
  if (launch.tmaAtWait)
    launch.tmaCopies.push_back(copy);
  else
    landTmaCopy(copy);
}

/// Runs `kernel` over the grid. Returns 0, or 1 with a message in `error`.
int llamaEmuLaunch(Kernel kernel, const unsigned grid[3],
                   const unsigned block[3], unsigned sharedBytes,
                   const LlamaGpuArgs *args, char *error, size_t errorBytes) {
  auto fail = [&](const std::string &message) {
    std::snprintf(error, errorBytes, "%s", message.c_str());
    return 1;
  };
  unsigned threads = block[0] * block[1] * block[2];
  if (threads == 0 || threads > kMaxThreads)
    return fail("block of " + std::to_string(threads) + " threads");
  if (sharedBytes > sizeof(llamaEmuSharedAnchor))
    return fail(std::to_string(sharedBytes) +
                " bytes of dynamic shared memory, more than the 227 KiB "
                "emulated");
  launch.sharedBytes = sharedBytes;
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
  // A launch that failed leaves its threads' products queued, and threads
  // past this launch's block would keep them: their pending operands would
  // trap this launch's TMA copies.
  for (Fiber &fiber : launch.fibers) {
    fiber.wgmmas.clear();
    fiber.wgmmaGroups.clear();
  }
  const char *tma = std::getenv("LLAMAC_EMU_TMA");
  if (!tma || !*tma || std::strcmp(tma, "issue") == 0)
    launch.tmaAtWait = false;
  else if (std::strcmp(tma, "wait") == 0)
    launch.tmaAtWait = true;
  else
    return fail(std::string("LLAMAC_EMU_TMA=") + tma +
                ": expected 'issue' (the default: TMA copies land when "
                "issued) or 'wait' (when a thread waits on their mbarrier)");
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
        launch.mbarriers.clear();
        launch.tmaCopies.clear();
        launch.arrivals = {};
        if (!runBlock(threads)) {
          llamaEmuCurrent = nullptr;
          return fail("block (" + std::to_string(x) + ", " + std::to_string(y) +
                      ", " + std::to_string(z) + "): " + launch.error);
        }
      }
  llamaEmuCurrent = nullptr;
  return 0;
}

} // extern "C"
