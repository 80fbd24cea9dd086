//===- CudaEmulation.cpp - Runs a CUDA grid as fibers on one host thread --===//
//
// The scheduler behind CudaEmulation.h. A launch runs its blocks one after
// another, or with a cluster shape its clusters, whose CTAs run together;
// the threads of a block (cluster) are fibers with their own stacks that
// run until they reach a barrier, a warp collective, an mbarrier wait or
// their end. When no fiber can run, a warp whose live lanes all wait at a
// collective is released (and run on), then a block whose live threads all
// wait at __syncthreads; the threads at a named barrier (bar.sync id,
// count) go on once `count` of them wait there or arrived (bar.arrive)
// since it last completed; a block that exits with arrivals no bar.sync
// completed fails. The cluster barrier goes on once every thread of the
// cluster that has not exited waits there. A thread waiting on an mbarrier runs
// again when the phase it waits for completes, whoever completes it, in its CTA
// or another of its cluster. Anything else is a deadlock a GPU would also hit
// (a barrier in divergent code, a phase that never completes), and fails the
// launch with what each thread of the block (cluster) waits at.
//
// Blocks (clusters), the warps of a block and the lanes of a warp run in
// index order, or last first under LLAMAC_EMU_ORDER=reverse. Each thread
// runs on to its next barrier before the next one starts, so a barrier
// missing between one thread's read and another's overwrite of the same
// data goes unseen when the reader runs first and shows when the writer
// does: one of the two orders shows it, whichever thread is which. A
// block's dynamic shared memory starts as all-ones bytes, NaN in every float
// type, so reading a byte no thread wrote shows in the results.
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
// Everything a block owns is its CTA's in a cluster: its window of dynamic
// shared memory, which its shared addresses resolve against, its named
// barriers, mbarriers and queued TMA copies. The cluster's primitives
// reach another CTA's: an mbarrier arrival (mapa, then
// mbarrier.arrive.shared::cluster) and a TMA load multicast to several
// CTAs. Both trap on a CTA that has exited: on a GPU its shared memory may
// be another block's by then.
//
// mbarriers live in a per-CTA side table keyed by their shared address;
// each holds the threads parked on its current phase. An arrival that
// completes a phase runs one of them at once (handOff), before the
// arriving thread goes on: the quickest producer a GPU could have. TMA tile
// loads (cp.async.bulk.tensor) complete_tx on their mbarrier when they land,
// which LLAMAC_EMU_TMA chooses: `issue` (the default) lands a copy at once,
// so a producer that refills a stage before the wgmma reading it retired
// (they run at wgmma.wait_group) corrupts the product; `wait` queues it
// until a thread waits on its mbarrier, or until nothing else can run, so
// a consumer that reads a stage without waiting on its mbarrier sees stale
// data. A block that exits with a copy still queued fails. A multicast
// copy is one copy per destination CTA, each landing as one would.
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
LlamaEmuDim3 llamaEmuBlockDim, llamaEmuGridDim;
unsigned llamaEmuClusterSize = 1;
alignas(1024) char llamaEmuSharedAnchor[kLlamaEmuMaxClusterSize *
                                        kLlamaEmuSharedWindowBytes];
}

namespace {

using Kernel = void (*)(LlamaGpuArgs);

constexpr size_t kStackBytes = 256 * 1024;
constexpr unsigned kMaxThreads = 1024;
/// The dynamic shared memory a launch may have, per CTA (an H100's).
constexpr unsigned kMaxSharedBytes = 227 * 1024;
static_assert(kMaxSharedBytes <= kLlamaEmuSharedWindowBytes &&
                  kLlamaEmuSharedWindowBytes % 1024 == 0,
              "each CTA's shared memory fits its 1024-byte aligned window");

enum class Wait { None, Block, Cluster, Named, Warp, Mbarrier, Done };

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
  /// The thread's index in its block; its warp's exchange slots (one set
  /// per warp of the cluster) and its lane.
  unsigned thread = 0, warp = 0, lane = 0;
  Wait wait = Wait::None;
  /// Barriers and collectives passed: every thread released together must
  /// have passed as many, or they are at different ones.
  uint64_t blockBarriers = 0, clusterBarriers = 0, warpCollectives = 0;
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

/// bar.arrive's arrivals at a named barrier since it last completed, and
/// the thread count they gave.
struct NamedArrivals {
  unsigned arrived = 0, count = 0;
};

/// One CTA of the running cluster (the block, without clusters).
struct Cta {
  LlamaEmuDim3 blockIndex{};
  /// Its window of llamaEmuSharedAnchor.
  char *shared = nullptr;
  /// Its threads are fibers [first, first + launch.threads); `live` of
  /// them have not exited.
  unsigned first = 0, live = 0;
  /// Its mbarriers (a GEMM has a handful: a linear search wins).
  std::vector<Mbarrier> mbarriers;
  std::array<NamedArrivals, 16> arrivals;
  /// LLAMAC_EMU_TMA=wait: TMA copies into it not landed yet, oldest first.
  std::vector<TmaCopy> tmaCopies;
};

struct Launch {
  Kernel kernel = nullptr;
  const LlamaGpuArgs *args = nullptr;
  /// The launch's dynamic shared memory: the bytes of each CTA's window
  /// that TMA copies and wgmma operands may touch.
  unsigned sharedBytes = 0;
  /// Threads per block, and CTAs per cluster (1 without clusters).
  unsigned threads = 0, clusterSize = 1;
  /// The cluster's threads, CTA after CTA, and its warps' slots.
  std::vector<Fiber> fibers;
  std::vector<WarpSlots> warps;
  std::array<Cta, kLlamaEmuMaxClusterSize> ctas;
  void *schedulerStack = nullptr;
  /// Why the launch failed, naming the block (or cluster).
  std::string error;
  bool tmaAtWait = false;
  /// LLAMAC_EMU_ORDER=reverse: blocks, CTAs, warps and lanes run last
  /// first.
  bool reverse = false;
};

Launch launch;

Fiber &self() { return *static_cast<Fiber *>(llamaEmuCurrent); }
Cta &ctaOf(const Fiber &fiber) { return launch.ctas[fiber.clusterRank]; }

std::string coordinates(const LlamaEmuDim3 &index) {
  return "(" + std::to_string(index.x) + ", " + std::to_string(index.y) + ", " +
         std::to_string(index.z) + ")";
}
std::string blockName(const Cta &cta) {
  return "block " + coordinates(cta.blockIndex);
}

/// The i-th of n things to run, in the launch's order.
unsigned inOrder(unsigned i, unsigned n) {
  return launch.reverse ? n - 1 - i : i;
}

/// Fails the launch with `what`, naming the block it happened in: the
/// scheduler's failures, and a trapping thread's.
void fail(const Cta &cta, const std::string &what) {
  launch.error = blockName(cta) + ": " + what;
}

void yieldToScheduler() {
  Fiber &fiber = self();
  llamaEmuSwitch(&fiber.stackPointer, launch.schedulerStack);
}

/// Runs thread `t` (of any CTA of the cluster) at once, before the calling
/// thread goes on: it resumes when the scheduler next gets to it. An
/// mbarrier arrival that completes a phase hands off to a thread waiting
/// for it, so that a producer refills a released stage (its TMA copies landing
/// at issue) before the consumer that released it takes another step: a
/// consumer that releases a stage while a wgmma of its own still reads it then
/// traps, as it would corrupt the product on a GPU whenever the producer is
/// that quick.
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

std::string hex(unsigned value) {
  char text[16];
  std::snprintf(text, sizeof(text), "0x%x", value);
  return text;
}

/// Checks what a CTA leaves behind when its last thread exits: from then
/// on no thread of it can complete a named barrier or wait for a copy.
void checkExit(const Cta &cta) {
  for (unsigned id = 1; id < 16; ++id)
    if (cta.arrivals[id].arrived != 0)
      return fail(cta, "exit with " + std::to_string(cta.arrivals[id].arrived) +
                           " arrivals (bar.arrive) at named barrier " +
                           std::to_string(id) + " that no bar.sync completed");
  if (!cta.tmaCopies.empty())
    fail(cta, "exit with a TMA copy in flight (to mbarrier " +
                  hex(cta.tmaCopies.front().bar) +
                  ", on which no thread waited)");
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
  // The CTA exits with its last thread, at once: the other CTAs of its
  // cluster may no longer reach its shared memory.
  Cta &cta = ctaOf(fiber);
  if (--cta.live == 0)
    checkExit(cta);
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

std::string describeWait(const Fiber &fiber) {
  switch (fiber.wait) {
  case Wait::None:
    return "running";
  case Wait::Done:
    return "exited";
  case Wait::Block:
    return "__syncthreads #" + std::to_string(fiber.blockBarriers + 1);
  case Wait::Cluster:
    return "barrier.cluster #" + std::to_string(fiber.clusterBarriers + 1);
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

/// What threads [begin, end) of a CTA wait at, runs of threads that wait
/// at the same place on one line, so that a block of GEMM warpgroups reads
/// at a glance. Threads are numbered in their block, from `cta.first`.
std::string describeWaits(const Cta &cta, size_t begin, size_t end) {
  std::string text;
  for (size_t t = begin; t < end && text.size() < 600;) {
    std::string what = describeWait(launch.fibers[t]);
    size_t last = t;
    while (last + 1 < end && describeWait(launch.fibers[last + 1]) == what)
      ++last;
    text += last == t ? "\n  thread " + std::to_string(t - cta.first)
                      : "\n  threads " + std::to_string(t - cta.first) + "-" +
                            std::to_string(last - cta.first);
    text += ": " + what;
    t = last + 1;
  }
  return text;
}
std::string describeWaits(const Cta &cta) {
  return describeWaits(cta, cta.first, cta.first + launch.threads);
}

/// Copies a validated TMA box into a CTA's shared memory: rows consecutive,
/// the elements outside the tensor zeros, and with the 128-byte swizzle
/// each 16-byte chunk XOR-ed with address bits 7-9, as wgmma reads it back.
void copyBox(const TmaCopy &copy, char *shared) {
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
      std::memcpy(shared + address, line, rowBytes);
      continue;
    }
    for (uint32_t chunk = 0; chunk < rowBytes; chunk += 16) {
      uint32_t at = address + chunk;
      std::memcpy(shared + (at ^ (((at >> 7) & 7) << 4)), line + chunk, 16);
    }
  }
}

Mbarrier *findMbarrier(Cta &cta, unsigned address) {
  for (Mbarrier &barrier : cta.mbarriers)
    if (barrier.address == address)
      return &barrier;
  return nullptr;
}

/// " of block (x, y, z)" where `cta` is not the calling thread's (a
/// message from the scheduler names the CTA anyway).
std::string ofOtherCta(const Cta &cta) {
  if (!llamaEmuCurrent || &cta == &ctaOf(self()))
    return "";
  return " of " + blockName(cta);
}

/// The initialized mbarrier at `bar` of `cta`; traps naming `what`
/// otherwise.
Mbarrier &mbarrierAt(Cta &cta, unsigned bar, const char *what) {
  if (Mbarrier *barrier = findMbarrier(cta, bar))
    return *barrier;
  static std::string message;
  message = std::string(what) + " on mbarrier " + hex(bar) + ofOtherCta(cta) +
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

/// Why a TMA copy into shared memory [begin, end) of `cta` may not land:
/// the range holds an operand of a wgmma that a thread of `cta` issued and
/// has not retired; "" when it may (defined after WgmmaOperand).
std::string pendingWgmmaReads(const Cta &cta, uint32_t begin, uint32_t end);

/// The bytes of one box of `map`: what a copy writes and completes.
int64_t boxBytes(const LlamaEmuTensorMap &map) {
  return int64_t(map.box[0]) * map.box[1] * map.elementBytes;
}

/// Writes a TMA copy's box into `cta` and performs its complete_tx there.
/// A copy that may not land traps the calling thread or, landed by the
/// scheduler, fails the launch: then it returns false.
bool landTmaCopy(const TmaCopy &copy, Cta &cta) {
  int64_t bytes = boxBytes(copy.map);
  std::string overwrite = pendingWgmmaReads(
      cta, copy.dst, copy.dst + uint32_t((bytes + 127) / 128 * 128));
  if (!overwrite.empty()) {
    if (!llamaEmuCurrent) {
      fail(cta, overwrite);
      return false;
    }
    static std::string message;
    message = overwrite;
    llamaEmuTrap(message.c_str());
  }
  copyBox(copy, cta.shared);
  if (Mbarrier *barrier = findMbarrier(cta, copy.bar)) {
    barrier->txCount -= bytes;
    completeIfDone(*barrier);
  }
  return true;
}

/// Lands the queued TMA copies into `cta` that signal its `barrier`, oldest
/// first, until its current phase completes; returns whether any landed.
bool landTmaCopies(Cta &cta, Mbarrier &barrier) {
  uint64_t phase = barrier.phase;
  bool landed = false;
  std::vector<TmaCopy> &copies = cta.tmaCopies;
  for (size_t i = 0; i < copies.size() && barrier.phase == phase;) {
    if (copies[i].bar != barrier.address) {
      ++i;
      continue;
    }
    TmaCopy copy = copies[i];
    copies.erase(copies.begin() + std::ptrdiff_t(i));
    if (!landTmaCopy(copy, cta))
      return false;
    landed = true;
  }
  return landed;
}

/// When no thread can run: lands the queued copies of the mbarriers that
/// threads wait on, the latest moment they can. Returns whether any landed;
/// sets launch.error when one may not.
bool landStalledTmaCopies() {
  bool landed = false;
  for (unsigned r = 0; r < launch.clusterSize; ++r) {
    Cta &cta = launch.ctas[r];
    for (Mbarrier &barrier : cta.mbarriers)
      if (!barrier.waiters.empty()) {
        landed |= landTmaCopies(cta, barrier);
        if (!launch.error.empty())
          return false;
      }
  }
  return landed;
}

/// Runs the lanes [first, end) of one warp of `cta` until none can go on,
/// releasing it each time they all wait at the same collective, so that a
/// warp's collectives cost one pass over its lanes. Returns false with
/// launch.error set.
bool runWarp(const Cta &cta, unsigned first, unsigned end) {
  for (;;) {
    for (unsigned i = 0; i < end - first; ++i) {
      Fiber &fiber = launch.fibers[first + inOrder(i, end - first)];
      if (fiber.wait != Wait::None)
        continue;
      llamaEmuCurrent = &fiber;
      llamaEmuSwitch(&launch.schedulerStack, fiber.stackPointer);
      // Whatever runs now is the scheduler's, not a thread's.
      llamaEmuCurrent = nullptr;
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
      return true; // some lanes wait at a barrier or an mbarrier: they may
                   // be released by other warps, or runCluster reports the
                   // deadlock when the cluster cannot go on
    uint64_t count = launch.fibers[first].warpCollectives;
    for (unsigned t = first; t < end; ++t) {
      const Fiber &fiber = launch.fibers[t];
      if (exited > 0 || fiber.warpCollectives != count) {
        fail(cta, "warp " + std::to_string((first - cta.first) / 32) +
                      (exited ? ": a warp collective with exited lanes"
                              : ": lanes at different warp collectives") +
                      describeWaits(cta, first, end));
        return false;
      }
    }
    for (unsigned t = first; t < end; ++t) {
      launch.fibers[t].wait = Wait::None;
      ++launch.fibers[t].warpCollectives;
    }
  }
}

/// Releases the named barriers (bar.sync id, count) of `cta` at which
/// `count` threads wait. Returns whether it released any; sets
/// launch.error when threads wait at one with different counts, or more
/// than its count.
bool releaseNamedBarriers(Cta &cta) {
  const unsigned begin = cta.first, end = cta.first + launch.threads;
  bool released = false;
  for (unsigned id = 1; id < 16; ++id) {
    NamedArrivals &arrivals = cta.arrivals[id];
    unsigned waiting = 0, count = arrivals.count;
    for (unsigned t = begin; t < end; ++t) {
      const Fiber &fiber = launch.fibers[t];
      if (fiber.wait != Wait::Named || fiber.namedBarrier != id)
        continue;
      if (waiting++ == 0 && arrivals.arrived == 0)
        count = fiber.namedCount;
      if (fiber.namedCount != count || waiting + arrivals.arrived > count) {
        fail(cta, "bar.sync " + std::to_string(id) +
                      ": threads wait with different counts (or arrive "
                      "with another), or more than their count" +
                      describeWaits(cta));
        return false;
      }
    }
    if (waiting == 0 || waiting + arrivals.arrived != count)
      continue;
    arrivals = {};
    for (unsigned t = begin; t < end; ++t) {
      Fiber &fiber = launch.fibers[t];
      if (fiber.wait == Wait::Named && fiber.namedBarrier == id)
        fiber.wait = Wait::None;
    }
    released = true;
  }
  return released;
}

/// Releases the threads of [begin, end) that wait at a barrier of kind
/// `wait` (__syncthreads over a CTA, barrier.cluster over the cluster)
/// when every thread there that has not exited waits at it, as the PTX ISA
/// has both barriers wait for the non-exited threads. Returns whether it
/// released them; `passed` counts each thread's passes.
bool releaseBarrier(unsigned begin, unsigned end, Wait wait,
                    uint64_t Fiber::*passed) {
  unsigned atBarrier = 0;
  uint64_t count = 0;
  for (unsigned t = begin; t < end; ++t) {
    const Fiber &fiber = launch.fibers[t];
    if (fiber.wait == Wait::Done)
      continue;
    if (fiber.wait != wait || (atBarrier++ > 0 && fiber.*passed != count))
      return false;
    count = fiber.*passed;
  }
  if (atBarrier == 0)
    return false;
  for (unsigned t = begin; t < end; ++t) {
    Fiber &fiber = launch.fibers[t];
    if (fiber.wait == wait) {
      fiber.wait = Wait::None;
      ++(fiber.*passed);
    }
  }
  return true;
}

/// Runs the cluster's CTAs (the block, without clusters) to their end.
/// Returns false with launch.error set.
bool runCluster() {
  const unsigned threads = launch.threads;
  const unsigned total = threads * launch.clusterSize;
  const unsigned warps = (threads + 31) / 32;
  for (;;) {
    for (unsigned r = 0; r < launch.clusterSize; ++r) {
      const Cta &cta = launch.ctas[inOrder(r, launch.clusterSize)];
      for (unsigned w = 0; w < warps; ++w) {
        unsigned first = cta.first + 32 * inOrder(w, warps);
        if (!runWarp(cta, first, std::min(first + 32, cta.first + threads)))
          return false;
      }
    }
    unsigned exited = 0, runnable = 0, atMbarrier = 0;
    for (unsigned t = 0; t < total; ++t) {
      Wait wait = launch.fibers[t].wait;
      exited += wait == Wait::Done;
      runnable += wait == Wait::None;
      atMbarrier += wait == Wait::Mbarrier;
    }
    // Each CTA's exit was checked when its last thread exited.
    if (exited == total)
      return true;
    if (runnable != 0)
      continue; // woken from an mbarrier by a later warp
    bool released = false;
    for (unsigned r = 0; r < launch.clusterSize; ++r) {
      released |= releaseNamedBarriers(launch.ctas[r]);
      if (!launch.error.empty())
        return false;
    }
    for (unsigned r = 0; r < launch.clusterSize; ++r) {
      const Cta &cta = launch.ctas[r];
      released |= releaseBarrier(cta.first, cta.first + threads, Wait::Block,
                                 &Fiber::blockBarriers);
    }
    released |=
        releaseBarrier(0, total, Wait::Cluster, &Fiber::clusterBarriers);
    if (released || landStalledTmaCopies())
      continue;
    if (!launch.error.empty())
      return false;
    const Cta &first = launch.ctas[0];
    if (launch.clusterSize == 1) {
      launch.error = blockName(first) + ": ";
    } else {
      const Cta &last = launch.ctas[launch.clusterSize - 1];
      launch.error = "cluster of blocks " + coordinates(first.blockIndex) +
                     " to " + coordinates(last.blockIndex) + ": ";
    }
    launch.error += atMbarrier == 0
                        ? "deadlock: threads wait at different barriers"
                        : "deadlock: no thread can go on, and no mbarrier "
                          "phase they wait for can complete";
    for (unsigned r = 0; r < launch.clusterSize; ++r) {
      const Cta &cta = launch.ctas[r];
      if (launch.clusterSize > 1)
        launch.error += "\n " + blockName(cta) + ":";
      launch.error += describeWaits(cta);
    }
    return false;
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
    static std::string message;
    message = tryDecode(descriptor, which, rows, mnMajor, operand);
    if (!message.empty())
      llamaEmuTrap(message.c_str());
    return operand;
  }

  /// The same, returning why not ("" when it decoded) instead of trapping.
  static std::string tryDecode(uint64_t descriptor, const char *which,
                               unsigned rows, bool mnMajor,
                               WgmmaOperand &operand) {
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
    if (swizzle != 1)
      return std::string("wgmma: ") + which + "'s swizzle mode " +
             std::to_string(swizzle) +
             " (only the 128-byte swizzle, 1, "
             "is emulated)";
    if (base != 0 || ((operand.start >> 7) & 7) != 0)
      return std::string("wgmma: ") + which +
             " does not start in the first row of a 1024-byte aligned "
             "swizzle atom (not emulated)";
    if (mnMajor && (operand.start & 127) != 0)
      return std::string("wgmma: ") + which +
             " is MN-major but does not start at a 128-byte row (not "
             "emulated)";
    if (end > launch.sharedBytes)
      return std::string("wgmma: ") + which + " ends at byte " +
             std::to_string(end) + ", past the launch's " +
             std::to_string(launch.sharedBytes) +
             " bytes of dynamic shared memory";
    return "";
  }

  /// Element (row, k) of the 16-bit operand in the shared memory `shared`
  /// of its CTA, `row` counting along M or N, its 16-byte chunk XOR-ed
  /// with address bits 7-9 (the 128-byte row within its 1024-byte atom), as
  /// the hardware swizzles.
  uint16_t at(const char *shared, unsigned row, unsigned k) const {
    uint32_t address =
        mnMajor ? start + (row / 64) * leading + (k / 8) * stride +
                      (k % 8) * 128 + (row % 64) * 2
                : start + (row / 8) * stride + (row % 8) * 128 + k * 2;
    address ^= ((address >> 7) & 7) << 4;
    uint16_t bits;
    std::memcpy(&bits, shared + address, 2);
    return bits;
  }
};

std::string pendingWgmmaReads(const Cta &cta, uint32_t begin, uint32_t end) {
  for (unsigned t = cta.first; t < cta.first + launch.threads; ++t) {
    for (const Wgmma &op : launch.fibers[t].wgmmas) {
      for (int which = op.registerA ? 1 : 0; which < 2; ++which) {
        const char *name = which ? "B" : "A";
        unsigned rows = which ? unsigned(op.n) : 64;
        bool mnMajor = which ? op.transB : op.transA;
        WgmmaOperand operand;
        std::string why = WgmmaOperand::tryDecode(which ? op.b : op.a, name,
                                                  rows, mnMajor, operand);
        if (!why.empty())
          return why;
        // The 128-byte rows it reads (a K-major start steps within them).
        uint32_t first = operand.start & ~127u;
        uint32_t last = operand.mnMajor
                            ? first + ((rows + 63) / 64 - 1) * operand.leading +
                                  operand.stride + 8 * 128
                            : first + (rows + 7) / 8 * operand.stride;
        if (first < end && begin < last)
          return "cp.async.bulk.tensor: a TMA copy into shared memory " +
                 hex(begin) + ".." + hex(end) + ofOtherCta(cta) +
                 " overwrites operand " + name + " (" + hex(first) + ".." +
                 hex(last) + ") of a wgmma that thread " +
                 std::to_string(t - cta.first) + ofOtherCta(cta) +
                 " has not retired (wgmma.wait_group)";
      }
    }
  }
  return "";
}

/// Computes one wgmma's share of the accumulators of `fiber`, from its
/// CTA's shared memory: in the PTX ISA's layout for m64nNk16 with f32
/// accumulators, warp w of the warpgroup holds rows 16 w to 16 w + 15, and
/// d[i] of lane l is row 16 w + l / 4 + 8 ((i / 2) % 2), column
/// 8 (i / 4) + 2 (l % 4) + i % 2.
void runWgmma(const Wgmma &op, const Fiber &fiber) {
  WgmmaOperand a;
  if (!op.registerA)
    a = WgmmaOperand::decode(op.a, "A", 64, op.transA);
  WgmmaOperand b = WgmmaOperand::decode(op.b, "B", unsigned(op.n), op.transB);
  auto value = [&](uint16_t bits) {
    return op.isBf16 ? __bfloat162float(__nv_bfloat16{bits})
                     : __half2float(__half{bits});
  };
  unsigned warp = (fiber.thread / 32) % 4, lane = fiber.thread % 32;
  const char *shared = fiber.shared;
  // The rows of A this thread's accumulators need are its own warp's.
  auto aAt = [&](unsigned row, unsigned k) {
    return op.registerA ? op.aRows[(row % 16) * 16 + k] : a.at(shared, row, k);
  };
  for (int i = 0; i < op.n / 2; ++i) {
    unsigned row = 16 * warp + lane / 4 + 8 * ((i / 2) % 2);
    unsigned column = 8 * (i / 4) + 2 * (lane % 4) + i % 2;
    float sum = 0.0f;
    for (unsigned k = 0; k < 16; ++k)
      sum += value(aAt(row, k)) * value(b.at(shared, column, k));
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

/// One warp's mma.sync: exchanges the lanes' A and B fragments, then adds to
/// this lane's accumulators, d[0], d[1] at (g, 2t), (g, 2t + 1) and d[2],
/// d[3] at row g + 8 (g = lane / 4, t = lane % 4), the sums over K of
/// aAt(slots, row, k) * bAt(slots, k, column). The products of the inputs
/// (16-bit or tf32 floats) are exact in f32; the hardware's summation order
/// is unspecified, so this one is as good as any.
template <unsigned K, typename AAt, typename BAt>
void runMmaSync(float *d, const unsigned *a, const unsigned *b, AAt aAt,
                BAt bAt) {
  Fiber &fiber = self();
  WarpSlotSet &slots = mySlots(fiber);
  std::memcpy(slots.a[fiber.lane], a, sizeof(slots.a[0]));
  std::memcpy(slots.b[fiber.lane], b, sizeof(slots.b[0]));
  warpBarrier("mma.sync");
  unsigned g = fiber.lane / 4, t = fiber.lane % 4;
  for (unsigned e = 0; e < 4; ++e) {
    unsigned row = g + (e >= 2 ? 8 : 0), column = 2 * t + e % 2;
    float sum = 0.0f;
    for (unsigned k = 0; k < K; ++k)
      sum += aAt(slots, row, k) * bAt(slots, k, column);
    d[e] += sum;
  }
}

/// wgmma is a warpgroup's instruction: the block must be whole warpgroups.
void requireWholeWarpgroups() {
  unsigned threads =
      llamaEmuBlockDim.x * llamaEmuBlockDim.y * llamaEmuBlockDim.z;
  if (threads % 128 != 0)
    llamaEmuTrap("wgmma in a block that is not whole warpgroups");
}

/// The CTA of rank `rank` in the calling thread's cluster, which `what`
/// reaches; traps when there is none or it has exited.
Cta &clusterCta(unsigned rank, const char *what) {
  static std::string message;
  if (rank >= launch.clusterSize)
    message = std::string(what) + ": rank " + std::to_string(rank) +
              " is outside the cluster of " +
              std::to_string(launch.clusterSize);
  else if (launch.ctas[rank].live == 0)
    message = std::string(what) + ": rank " + std::to_string(rank) + " (" +
              blockName(launch.ctas[rank]) +
              ") has exited, and its shared memory may be another block's";
  else
    return launch.ctas[rank];
  llamaEmuTrap(message.c_str());
}

/// Arrives on the mbarrier at `bar` of `cta`, expecting `txBytes` more; an
/// arrival that completes the phase hands off to a thread waiting for it.
void arrive(Cta &cta, unsigned bar, unsigned txBytes, const char *what) {
  Mbarrier &barrier = mbarrierAt(cta, bar, what);
  static std::string message;
  if (barrier.pending == 0) {
    message = std::string(what) + " on mbarrier " + hex(bar) + ofOtherCta(cta) +
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

/// A cp.async.bulk.tensor.2d (`what`) into shared memory `dst`, validated
/// as the calling thread issues it; traps naming what is wrong.
TmaCopy tmaCopy(unsigned dst, const void *map, int inner, int row, unsigned bar,
                const char *what) {
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
  const std::string prefix = std::string(what) + ": ";
  if (uintptr_t(map) % 64 != 0)
    message = prefix + "the tensor map is not 64-byte aligned";
  else if (m.magic != kLlamaEmuTensorMapMagic)
    message = prefix + "the tensor map was not encoded by the fake driver's "
                       "cuTensorMapEncodeTiled (bad magic)";
  else if (m.rank != 2)
    message = prefix + "a rank-" + std::to_string(m.rank) + " tensor map";
  else if (m.swizzleBytes != 0 && m.swizzleBytes != 128)
    message = prefix + "the " + std::to_string(m.swizzleBytes) +
              "-byte swizzle (not emulated)";
  else if (dst % align != 0)
    message = prefix + "shared destination " + hex(dst) + " is not " +
              std::to_string(align) + "-byte aligned";
  else if (int32_t(dst) < 0 ||
           int64_t(int32_t(dst)) + span > int64_t(launch.sharedBytes))
    message = prefix + "a box of " + std::to_string(bytes) + " bytes at " +
              hex(dst) + " runs past the launch's " +
              std::to_string(launch.sharedBytes) +
              " bytes of dynamic shared memory";
  else
    return copy;
  llamaEmuTrap(message.c_str());
}

/// Lands `copy` in `cta` now or, under LLAMAC_EMU_TMA=wait, queues it there.
void issueTmaCopy(const TmaCopy &copy, Cta &cta) {
  if (launch.tmaAtWait)
    cta.tmaCopies.push_back(copy);
  else
    landTmaCopy(copy, cta);
}

/// Reads environment variable `name`, which is unset, empty, `off` or
/// `on`, into `value` (whether it is `on`). Returns false with a message in
/// `error` for anything else.
bool readSwitch(const char *name, const char *off, const char *offMeaning,
                const char *on, const char *onMeaning, bool &value,
                char *error, size_t errorBytes) {
  const char *text = std::getenv(name);
  value = text && std::strcmp(text, on) == 0;
  if (value || !text || !*text || std::strcmp(text, off) == 0)
    return true;
  std::snprintf(error, errorBytes, "%s=%s: expected '%s' (%s) or '%s' (%s)",
                name, text, off, offMeaning, on, onMeaning);
  return false;
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

void llamaEmuClusterSync(void) {
  Fiber &fiber = self();
  fiber.wait = Wait::Cluster;
  yieldToScheduler();
}

[[noreturn]] void llamaEmuTrap(const char *what) {
  Fiber &fiber = self();
  fail(ctaOf(fiber),
       std::string(what) + " in thread " + std::to_string(fiber.thread));
  fiber.wait = Wait::Done;
  yieldToScheduler();
  __builtin_unreachable();
}

void llamaEmuCheckAligned(const void *p, unsigned bytes) {
  if (reinterpret_cast<uintptr_t>(p) % bytes == 0)
    return;
  char what[96];
  std::snprintf(what, sizeof(what),
                "misaligned address: a %u-byte access at %p", bytes, p);
  llamaEmuTrap(what);
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
  if (count == 0 || count % 32 != 0 || count > launch.threads)
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
  if (count == 0 || count % 32 != 0 || count > launch.threads)
    llamaEmuTrap("bar.arrive with a thread count that is not whole warps of "
                 "the block");
  NamedArrivals &arrivals = ctaOf(self()).arrivals[id];
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
  // cp.async of 16 bytes needs both addresses aligned to 16; a source of
  // 0 valid bytes is not read.
  llamaEmuCheckAligned(dst, 16);
  if (validBytes > 0)
    llamaEmuCheckAligned(src, 16);
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
  llamaEmuCheckAligned(address, 16); // each row's 16 bytes
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
  llamaEmuCheckAligned(address, 16);
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
///   B (16 x 8):  b[0] holds (k = 2t..2t+1, n = g), b[1] (k = 2t + 8.., g).
void llamaEmuMma16816(float *d, const unsigned *a, const unsigned *b,
                      int isBf16) {
  auto value = [isBf16](uint16_t bits) {
    if (isBf16)
      return __bfloat162float(__nv_bfloat16{bits});
    return __half2float(__half{bits});
  };
  runMmaSync<16>(
      d, a, b,
      [&](const WarpSlotSet &slots, unsigned row, unsigned k) {
        return value(aFragmentBits(slots.a, row, k));
      },
      [&](const WarpSlotSet &slots, unsigned k, unsigned n) {
        unsigned lane = n * 4 + (k % 8) / 2;
        return value(uint16_t(slots.b[lane][k >= 8 ? 1 : 0] >> (16 * (k % 2))));
      });
}

/// mma.m16n8k8 with tf32 inputs: register r of lane l holds A's row
/// l / 4 + 8 (r % 2), k l % 4 + 4 (r / 2), and B's k l % 4 + 4 r of column
/// l / 4. The tensor cores read 19 bits of each register (sign, exponent
/// and 10 of mantissa) and ignore the rest, so a kernel that hands them f32
/// unconverted loses those bits here too.
void llamaEmuMma1688Tf32(float *d, const unsigned *a, const unsigned *b) {
  auto tf32 = [](unsigned bits) {
    return llamaEmuBitsToFloat(bits & 0xffffe000u);
  };
  runMmaSync<8>(
      d, a, b,
      [&](const WarpSlotSet &slots, unsigned row, unsigned k) {
        return tf32(slots.a[(row % 8) * 4 + k % 4][(row / 8) + 2 * (k / 4)]);
      },
      [&](const WarpSlotSet &slots, unsigned k, unsigned n) {
        return tf32(slots.b[n * 4 + k % 4][k / 4]);
      });
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
  for (size_t i = 0; i < retire; ++i)
    runWgmma(fiber.wgmmas[i], fiber);
  fiber.wgmmas.erase(fiber.wgmmas.begin(), fiber.wgmmas.begin() + retire);
  // wgmma.wait_group.sync.aligned: a warp's lanes pass it together, so once
  // one lane is past it every lane's products have retired, and kernels may
  // let one lane speak for the warp (an mbarrier arrival that frees the
  // stage the products read).
  warpBarrier("wgmma.wait_group");
}

void llamaEmuMbarrierInit(unsigned bar, unsigned count) {
  Cta &cta = ctaOf(self());
  static std::string message;
  if (bar % 8 != 0)
    message = "mbarrier.init: mbarrier " + hex(bar) + " is not 8-byte aligned";
  else if (count == 0 || count >= (1u << 20))
    message = "mbarrier.init: arrival count " + std::to_string(count) +
              " outside 1..2^20-1";
  else if (Mbarrier *barrier = findMbarrier(cta, bar);
           barrier && !barrier->waiters.empty())
    message = "mbarrier.init: mbarrier " + hex(bar) + " has waiting threads";
  else
    message.clear();
  if (!message.empty())
    llamaEmuTrap(message.c_str());
  Mbarrier *barrier = findMbarrier(cta, bar);
  if (!barrier) {
    cta.mbarriers.emplace_back();
    barrier = &cta.mbarriers.back();
    barrier->address = bar;
  }
  barrier->expected = barrier->pending = count;
  barrier->txCount = 0;
  barrier->phase = 0;
}

void llamaEmuMbarrierArrive(unsigned bar, unsigned txBytes) {
  arrive(ctaOf(self()), bar, txBytes, "mbarrier.arrive");
}

void llamaEmuMbarrierArriveCluster(unsigned bar, unsigned rank) {
  const char *what = "mbarrier.arrive.shared::cluster";
  arrive(clusterCta(rank, what), bar, 0, what);
}

void llamaEmuMbarrierWait(unsigned bar, unsigned parity) {
  Cta &cta = ctaOf(self());
  Mbarrier &barrier = mbarrierAt(cta, bar, "mbarrier.try_wait");
  parity &= 1;
  if ((barrier.phase & 1) != parity)
    return;
  if (launch.tmaAtWait && landTmaCopies(cta, barrier) &&
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
  const char *what = "cp.async.bulk.tensor.2d";
  TmaCopy copy = tmaCopy(dst, map, inner, row, bar, what);
  Cta &cta = ctaOf(self());
  mbarrierAt(cta, bar, what);
  issueTmaCopy(copy, cta);
}

void llamaEmuTmaLoad2dMulticast(unsigned dst, const void *map, int inner,
                                int row, unsigned bar, unsigned ctaMask) {
  const char *what = "cp.async.bulk.tensor.2d.multicast::cluster";
  TmaCopy copy = tmaCopy(dst, map, inner, row, bar, what);
  static std::string message;
  if (ctaMask == 0 || ctaMask >> launch.clusterSize != 0) {
    message = std::string(what) + ": ctaMask " + hex(ctaMask) +
              (ctaMask == 0 ? " names no CTA"
                            : " names a rank outside the cluster of " +
                                  std::to_string(launch.clusterSize));
    llamaEmuTrap(message.c_str());
  }
  // Every destination is checked before the first lands.
  for (unsigned rank = 0; rank < launch.clusterSize; ++rank)
    if (ctaMask >> rank & 1)
      mbarrierAt(clusterCta(rank, what), bar, what);
  for (unsigned rank = 0; rank < launch.clusterSize; ++rank)
    if (ctaMask >> rank & 1)
      issueTmaCopy(copy, launch.ctas[rank]);
}

/// Runs `kernel` over the grid, in clusters of cluster[0] blocks along x.
/// Returns 0, or 1 with a message in `error`.
int llamaEmuLaunch(Kernel kernel, const unsigned grid[3],
                   const unsigned block[3], const unsigned cluster[3],
                   unsigned sharedBytes, const LlamaGpuArgs *args, char *error,
                   size_t errorBytes) {
  auto refuse = [&](const std::string &message) {
    std::snprintf(error, errorBytes, "%s", message.c_str());
    return 1;
  };
  unsigned threads = block[0] * block[1] * block[2];
  if (threads == 0 || threads > kMaxThreads)
    return refuse("block of " + std::to_string(threads) + " threads");
  if (sharedBytes > kMaxSharedBytes)
    return refuse(std::to_string(sharedBytes) +
                  " bytes of dynamic shared memory, more than the 227 KiB "
                  "emulated");
  const std::string shape = std::to_string(cluster[0]) + "x" +
                            std::to_string(cluster[1]) + "x" +
                            std::to_string(cluster[2]);
  if (cluster[1] != 1 || cluster[2] != 1)
    return refuse("cluster " + shape +
                  ": clusters along y or z are not emulated");
  const unsigned clusterSize = cluster[0];
  if (clusterSize == 0)
    return refuse("cluster " + shape + " is empty");
  if (clusterSize > kLlamaEmuMaxClusterSize)
    return refuse("cluster " + shape + ": more blocks than the " +
                  std::to_string(kLlamaEmuMaxClusterSize) +
                  " of a portable cluster");
  if (grid[0] % clusterSize != 0)
    return refuse("cluster " + shape + " does not divide grid " +
                  std::to_string(grid[0]) + "x" + std::to_string(grid[1]) +
                  "x" + std::to_string(grid[2]));
  const unsigned total = threads * clusterSize;
  if (launch.fibers.size() < total) {
    launch.fibers.resize(total);
    for (Fiber &fiber : launch.fibers) {
      if (fiber.stack)
        continue;
      void *stack = mmap(nullptr, kStackBytes, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (stack == MAP_FAILED)
        return refuse("cannot map a fiber stack");
      fiber.stack = static_cast<char *>(stack);
    }
  }
  if (!readSwitch("LLAMAC_EMU_TMA", "issue",
                  "the default: TMA copies land when issued", "wait",
                  "when a thread waits on their mbarrier", launch.tmaAtWait,
                  error, errorBytes) ||
      !readSwitch("LLAMAC_EMU_ORDER", "forward",
                  "the default: blocks, warps and lanes in index order",
                  "reverse", "last first", launch.reverse, error, errorBytes))
    return 1;
  const unsigned warpsPerBlock = (threads + 31) / 32;
  launch.warps.resize(warpsPerBlock * clusterSize);
  launch.kernel = kernel;
  launch.args = args;
  launch.sharedBytes = sharedBytes;
  launch.threads = threads;
  launch.clusterSize = llamaEmuClusterSize = clusterSize;
  launch.error.clear();
  llamaEmuGridDim = {grid[0], grid[1], grid[2]};
  llamaEmuBlockDim = {block[0], block[1], block[2]};
  const unsigned clusters = grid[0] / clusterSize;
  for (unsigned zi = 0; zi < grid[2]; ++zi)
    for (unsigned yi = 0; yi < grid[1]; ++yi)
      for (unsigned ci = 0; ci < clusters; ++ci) {
        const unsigned z = inOrder(zi, grid[2]), y = inOrder(yi, grid[1]);
        const unsigned x0 = inOrder(ci, clusters) * clusterSize;
        for (unsigned rank = 0; rank < clusterSize; ++rank) {
          Cta &cta = launch.ctas[rank];
          cta.blockIndex = {x0 + rank, y, z};
          cta.shared =
              llamaEmuSharedAnchor + size_t(rank) * kLlamaEmuSharedWindowBytes;
          // A GPU promises nothing of shared memory at a block's start:
          // all-ones bytes are NaNs in f32, f16 and bf16, so a product or
          // sum over a byte no thread wrote shows in the results.
          std::memset(cta.shared, 0xFF, sharedBytes);
          cta.first = rank * threads;
          cta.live = threads;
          cta.mbarriers.clear();
          cta.arrivals = {};
          cta.tmaCopies.clear();
          for (unsigned t = 0; t < threads; ++t) {
            Fiber &fiber = launch.fibers[cta.first + t];
            fiber.index = {t % block[0], (t / block[0]) % block[1],
                           t / (block[0] * block[1])};
            fiber.blockIndex = cta.blockIndex;
            fiber.clusterRank = rank;
            fiber.shared = cta.shared;
            fiber.thread = t;
            fiber.warp = rank * warpsPerBlock + t / 32;
            fiber.lane = t % 32;
            fiber.wait = Wait::None;
            fiber.blockBarriers = fiber.clusterBarriers =
                fiber.warpCollectives = 0;
            fiber.copies.clear();
            fiber.groups.clear();
            fiber.wgmmas.clear();
            fiber.wgmmaGroups.clear();
            fiber.stackPointer = initialStack(fiber.stack);
          }
        }
        if (!runCluster()) {
          llamaEmuCurrent = nullptr;
          return refuse(launch.error);
        }
      }
  llamaEmuCurrent = nullptr;
  return 0;
}

} // extern "C"
