#!/usr/bin/env python3
"""Random custom configs through the CUDA kernels, against the CPU target.

  fuzz_cuda_configs.py --bin BUILD/bin --fake-libcuda LIB --workdir DIR
                       [--seed S] [--count N] [--kind KIND[,KIND...]]
                       [--max-width W] [--models DIR] [--asan-runtime LIB]
                       [--order forward|reverse|both]

Draws N configs from --seed (the same seed draws the same configs): even
head sizes from 2 to 264, GQA groups of 1 to 8, odd FFN widths and
vocabularies, 1 or 2 layers, f32, bf16 or f16, RoPE on adjacent pairs or on
halves, fused or not, sm_80 or sm_90a, and inference batches of 1 to 3.
Each is compiled for both targets with llamac, its CUDA kernels run in the
kernel emulator (llama-cuda-emu, through the fake driver), and

  logits: prefill (in one call or in chunks) and decode logits are compared
          with the CPU target's by test/gpu/hf_compare.py (its tolerances);
  grads:  forward_loss's gradients (batches of 1 to 3) by
          compare_safetensors.py, within 1e-5 (f32) or 3e-2 (16-bit) of
          each tensor's largest entry;
  train:  two f32 train_step steps from random weights on
          test/runtime/Inputs/stories.txt with llama2.c's 512-token
          tokenizer (--models DIR/tok512.bin, vocabulary 512): the losses
          within 1e-5, the checkpoint (weights and AdamW moments) within
          1e-4 of each tensor's largest entry.

The kinds take turns, config by config (default logits,grads). So do the
emulator's two thread orders (--order both, the default): odd configs run
with LLAMAC_EMU_ORDER=reverse, every block, warp and lane last first, since
a missing barrier shows in one of the two orders only.
Only configs the CUDA target accepts are drawn (training heads of at least
12 bytes), so a refused compile is a failure too.
Every failure prints the commands that reproduce it; the last line is

  fuzz: PASS (N configs, M comparisons)    or    fuzz: FAIL (...)

and the exit status is 1 on any failure. Slow (the emulator runs every
thread of every block on the CPU): about 30 s a config on 2 cores. Needs
numpy for grads and train.
"""
import argparse
import os
import random
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
HF_COMPARE = os.path.join(HERE, "..", "gpu", "hf_compare.py")
COMPARE_SAFETENSORS = os.path.join(HERE, "compare_safetensors.py")
STORIES = os.path.join(HERE, "..", "runtime", "Inputs", "stories.txt")
KINDS = ["logits", "grads", "train"]

HEAD_SIZES = [2, 4, 6, 8, 10, 12, 14, 16, 20, 24, 26, 32, 40, 48, 64, 72,
              80, 96, 112, 120, 128, 136, 144, 160, 192, 256, 264]
GRAD_RTOL = {"f32": "1e-5", "bf16": "3e-2", "f16": "3e-2"}


def read_rows(path):
    """A --loss-log CSV's rows after its header."""
    with open(path) as f:
        return [line for line in f.read().splitlines()[1:] if line]


def draw_config(rng, kind, max_width):
    """A config the CUDA target accepts, as llamac flags and a summary."""
    dtype = rng.choice(["f32", "bf16", "f16"])
    # Training keeps three f32 statistics in a query head's gradient slice.
    bytes_per_element = 4 if dtype == "f32" or kind == "train" else 2
    sizes = [d for d in HEAD_SIZES if d <= max_width and
             (kind == "logits" or d * bytes_per_element >= 12)]
    head = rng.choice(sizes)
    group = rng.choice([1, 1, 2, 3, 4, 8])
    kv_heads = rng.choice([1, 2, 3, 4])
    while kv_heads * group * head > max_width and kv_heads * group > 1:
        if kv_heads > 1:
            kv_heads //= 2
        else:
            group //= 2
    heads = kv_heads * group
    dim = heads * head
    return {
        "dim": dim,
        "layers": rng.choice([1, 2]),
        "heads": heads,
        "kv_heads": kv_heads,
        "ffn": rng.choice([dim, 2 * dim + 8, rng.randrange(8, 3 * dim + 1)]),
        "vocab": rng.choice([33, 256, 300, 517, 1000]),
        "dtype": dtype,
        "rope": rng.choice(["adjacent", "half"]),
        "fusion": rng.random() < 0.8,
        "arch": rng.choice(["sm_80", "sm_90a"]),
    }


def config_flags(c):
    flags = (f"--model tiny --dim {c['dim']} --n-layers {c['layers']} "
             f"--n-heads {c['heads']} --n-kv-heads {c['kv_heads']} "
             f"--ffn-dim {c['ffn']} --vocab-size {c['vocab']} "
             f"--dtype {c['dtype']} --rope-style {c['rope']}")
    return flags + ("" if c["fusion"] else " --no-fusion")


class Fuzzer:
    def __init__(self, args):
        self.args = args
        self.failures = 0
        self.comparisons = 0

    def tool(self, name):
        return os.path.join(self.args.bin, name)

    def run(self, command):
        """Runs one shell command; returns (ok, its output or error text)."""
        result = subprocess.run(command, shell=True, capture_output=True,
                                text=True)
        if result.returncode == 0:
            return True, result.stdout
        return False, (result.stderr or result.stdout)[-1500:]

    def fail(self, label, detail, commands):
        self.failures += 1
        print(f"FAIL: {label}: {detail.strip()}", flush=True)
        print("  reproduce with:", flush=True)
        for command in commands:
            print(f"    {command}", flush=True)

    def build(self, index, flags, workdir, c):
        """Compiles both targets and emulates the CUDA one; returns the
        config's label and the commands run, or None after reporting a
        failure."""
        arch = c["arch"]
        label = f"config {index} ({flags} --cuda-arch={arch})"
        if c["order"] == "reverse":
            label += ", emulated last thread first"
        print(label, flush=True)
        cpu = os.path.join(workdir, "cpu.art")
        cuda = os.path.join(workdir, "cuda.art")
        emu = os.path.join(workdir, "emu.art")
        commands = [
            f"{self.tool('llamac')} {flags} --target=cpu -o {cpu}",
            f"{self.tool('llamac')} {flags} --target=cuda --cuda-arch={arch} -o {cuda}",
            f"{self.tool('llama-cuda-emu')} {cuda} --arch {arch} -o {emu}"
            + (" --asan" if self.args.asan_runtime else ""),
        ]
        return (label, commands) if self.run_all(label, commands, commands) else None

    def emulated(self, c):
        """The `env ...` prefix that runs llama-run on the emulated GPU."""
        env = {"LLAMAC_LIBCUDA": self.args.fake_libcuda}
        if c["order"] == "reverse":
            env["LLAMAC_EMU_ORDER"] = "reverse"
        if c["arch"] == "sm_90a":
            env["LLAMAC_FAKE_CUDA_SM"] = "90"
        if self.args.asan_runtime:
            env["LD_PRELOAD"] = self.args.asan_runtime
            env["ASAN_OPTIONS"] = "detect_leaks=0"
        return "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())

    def compare(self, label, command, commands):
        self.comparisons += 1
        ok, output = self.run(command)
        if ok:
            print(output.strip(), flush=True)
        else:
            self.fail(label, output, commands + [command])

    def logits(self, index, rng, c, workdir):
        # The batch and its extra rows come from a generator of their own,
        # so that every seed draws the configs it drew before batches.
        side = random.Random(self.args.seed * 1000003 + index)
        batch = side.choice([1, 1, 2, 3])
        flags = (config_flags(c) +
                 f" --max-seq 256 --batch {batch} --entry=prefill,decode")
        built = self.build(index, flags, workdir, c)
        if built is None:
            return
        label, commands = built
        length = rng.choice([3, 17, 40, 70, 130])
        rows = [[rng.randrange(c["vocab"]) for _ in range(length)]]
        chunk = rng.choice([0, 0, 7, 33])
        rows += [[side.randrange(c["vocab"]) for _ in range(length)]
                 for _ in range(batch - 1)]
        tokens = shlex.quote(";".join(",".join(map(str, row)) for row in rows))
        env = self.emulated(c)
        run = (f"{self.tool('llama-run')} logits --random-weights --seed 7 "
               f"--tokens {tokens}")
        names = {"prefill": f"prefill in calls of {chunk}" if chunk else "prefill",
                 "decode": "decode"}
        for mode, extra in [("prefill", f"--mode prefill --chunk {chunk}"),
                            ("decode", "")]:
            expected = os.path.join(workdir, f"cpu-{mode}.txt")
            actual = os.path.join(workdir, f"emu-{mode}.txt")
            cpu_run = f"{run} --artifact {workdir}/cpu.art {'--mode prefill' if mode == 'prefill' else ''} > {expected}"
            emu_run = f"{env} {run} --device cuda --artifact {workdir}/emu.art {extra} > {actual}"
            steps = commands + [cpu_run, emu_run]
            if not self.run_all(label, [cpu_run, emu_run], steps):
                continue
            self.compare(f"{label} {mode}",
                         f"{sys.executable} {HF_COMPARE} logits {expected} {actual} "
                         f"--dtype {c['dtype']} --label 'config {index} {names[mode]}'",
                         steps)

    def grads(self, index, rng, c, workdir):
        # 2 tokens a row: with at most 4 rows the forward's GEMMs are GEMVs
        # (which apply the RMSNorm gains themselves).
        batch, seq = rng.choice([1, 2, 3]), rng.choice([2, 5, 24, 64, 70])
        flags = (config_flags(c) +
                 f" --entry=forward_loss --autodiff --batch {batch} --seq-len {seq}")
        built = self.build(index, flags, workdir, c)
        if built is None:
            return
        label, commands = built
        ids = lambda: ",".join(str(rng.randrange(c["vocab"]))
                               for _ in range(batch * seq))
        run = (f"{self.tool('llama-run')} grads --random-weights --seed 3 "
               f"--tokens {ids()} --targets {ids()}")
        env = self.emulated(c)
        steps = commands + [
            f"{run} --artifact {workdir}/cpu.art -o {workdir}/cpu.safetensors",
            f"{env} {run} --device cuda --artifact {workdir}/emu.art "
            f"-o {workdir}/emu.safetensors",
        ]
        if not self.run_all(label, steps[len(commands):], steps):
            return
        self.compare(label,
                     f"{sys.executable} {COMPARE_SAFETENSORS} {workdir}/cpu.safetensors "
                     f"{workdir}/emu.safetensors --rtol {GRAD_RTOL[c['dtype']]} "
                     f"--label 'config {index} grads'",
                     steps)

    def train(self, index, rng, c, workdir):
        c = dict(c, dtype="f32", vocab=512)
        batch, seq = rng.choice([1, 2, 3]), rng.choice([8, 24, 64])
        flags = config_flags(c) + f" --entry=train_step --batch {batch} --seq-len {seq}"
        built = self.build(index, flags, workdir, c)
        if built is None:
            return
        label, commands = built
        train = (f"{self.tool('llama-run')} train --random-weights --weights-seed 5 "
                 f"--tokenizer {self.args.models}/tok512.bin --data {STORIES} "
                 f"--steps 2 --lr 1e-3 --eval-batches 0 --seed {rng.randrange(100)}")
        env = self.emulated(c)
        steps = commands + [
            f"{train} --artifact {workdir}/cpu.art --loss-log {workdir}/cpu.csv "
            f"--save {workdir}/cpu.safetensors",
            f"{env} {train} --device cuda --artifact {workdir}/emu.art "
            f"--loss-log {workdir}/emu.csv --save {workdir}/emu.safetensors",
        ]
        if not self.run_all(label, steps[len(commands):], steps):
            return
        self.comparisons += 1
        worst = max(abs(float(a.split(",")[1]) - float(b.split(",")[1]))
                    for a, b in zip(read_rows(f"{workdir}/cpu.csv"),
                                    read_rows(f"{workdir}/emu.csv")))
        detail = f"losses of 2 steps within {worst:.1e} (tol 1e-05)"
        if worst <= 1e-5:
            print(f"PASS: config {index} train: {detail}", flush=True)
        else:
            self.fail(f"{label} train", detail, steps)
        self.compare(label,
                     f"{sys.executable} {COMPARE_SAFETENSORS} {workdir}/cpu.safetensors "
                     f"{workdir}/emu.safetensors --rtol 1e-4 "
                     f"--label 'config {index} checkpoint'",
                     steps)

    def run_all(self, label, steps, shown):
        """Runs steps in turn; a failure is reported with all of shown."""
        for step in steps:
            ok, error = self.run(step)
            if not ok:
                self.fail(label, error, shown)
                return False
        return True


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", required=True,
                        help="directory holding llamac, llama-run, llama-cuda-emu")
    parser.add_argument("--fake-libcuda", required=True,
                        help="the fake driver (build/test/unit/runtime/libFakeCudaDriver.so)")
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=10)
    parser.add_argument("--kind", default="logits,grads",
                        help="comma-separated kinds, taking turns: "
                        + ", ".join(KINDS) + " (default logits,grads)")
    parser.add_argument("--max-width", type=int, default=1024,
                        help="largest model width (dim) drawn (default 1024)")
    parser.add_argument("--asan-runtime", metavar="LIB",
                        help="emulate the kernels under AddressSanitizer "
                        "(llama-cuda-emu --asan), llama-run preloading LIB "
                        "(the compiler's shared ASan runtime, e.g. clang++ "
                        "-print-file-name=libclang_rt.asan-x86_64.so): an "
                        "access outside a device buffer or a static shared "
                        "array fails the config even where the logits agree")
    parser.add_argument("--order", choices=["forward", "reverse", "both"],
                        default="both",
                        help="the emulator's thread order (LLAMAC_EMU_ORDER): "
                        "index order, last first, or (the default) the two "
                        "taking turns config by config, since a missing "
                        "barrier shows in one order only")
    parser.add_argument("--models", default=os.environ.get(
                            "LLAMAC_MODELS_DIR", os.path.join(HERE, "..", "..", "..", "shared", "models")),
                        help="directory holding tok512.bin, for train "
                        "(default $LLAMAC_MODELS_DIR or ../shared/models)")
    args = parser.parse_args()
    if args.count < 1 or args.max_width < 4:
        parser.error("--count must be positive and --max-width at least 4")
    kinds = args.kind.split(",")
    for kind in kinds:
        if kind not in KINDS:
            parser.error(f"--kind: unknown kind '{kind}' (expected {', '.join(KINDS)})")
    tokenizer = os.path.join(args.models, "tok512.bin")
    if "train" in kinds and not os.path.isfile(tokenizer):
        parser.error(f"--kind train needs {tokenizer} (set --models or LLAMAC_MODELS_DIR)")
    if args.asan_runtime and not os.path.isfile(args.asan_runtime):
        parser.error(f"--asan-runtime: {args.asan_runtime} is not a file")
    fuzzer = Fuzzer(args)
    rng = random.Random(args.seed)
    for index in range(args.count):
        kind = kinds[index % len(kinds)]
        config = draw_config(rng, kind, args.max_width)
        # Not drawn, so that a seed draws the same configs whatever --order.
        config["order"] = (args.order if args.order != "both"
                           else ("forward", "reverse")[index % 2])
        workdir = os.path.join(args.workdir, f"{args.seed}-{index}")
        os.makedirs(workdir, exist_ok=True)
        getattr(fuzzer, kind)(index, rng, config, workdir)
    verdict = "FAIL" if fuzzer.failures else "PASS"
    detail = f"{args.count} configs, {fuzzer.comparisons} comparisons"
    if fuzzer.failures:
        detail += f", {fuzzer.failures} failures"
    print(f"fuzz: {verdict} ({detail}, seed {args.seed})", flush=True)
    return 1 if fuzzer.failures else 0


if __name__ == "__main__":
    sys.exit(main())
