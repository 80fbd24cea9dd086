#!/usr/bin/env python3
"""Sets two builds of the same artifacts side by side: llama-run's figures
for a baseline (an earlier commit's kernels) and for the current ones, as
bench/gpu/ab.sh measured them in one run on one GPU.

  ab.py --base NAME.base.json --new NAME.new.json
        [--base-context NAME.base.context.json --new-context NAME.new.context.json]

Each JSON is `llama-run bench --json`; the context pair is the same with
--context. It prints decode tokens/s (and at the context), prefill tokens/s
per length, and every kernel's time per call, each with new / base: below
1 the new build is faster for times and slower for tokens/s. It needs no
PyTorch.
"""
import argparse
import json
import sys
from collections import OrderedDict


def load(path):
    with open(path) as f:
        return json.load(f)


def rate(phase):
    return phase["tokens"] / phase["seconds"] if phase["seconds"] else float("nan")


def kernel_times(bench):
    """{(phase, kernel symbol): (label, calls, microseconds a call)}. A
    kernel serves every layer (its origin names the first), and the two
    builds name the kernels of one graph alike."""
    times = OrderedDict()
    context = bench["decode"].get("context", 0)
    for profile in bench["profiles"]:
        if profile["entry"] == "decode":
            phase = f"decode at {context}" if context else "decode"
        else:
            phase = f"prefill {profile['seq']}"
        for kernel in profile["kernels"]:
            label = f"{phase}: {kernel['symbol']} ({kernel['origin']})"
            times[(phase, kernel["symbol"])] = (
                label, kernel["ns"] / kernel["calls"] / 1e3
                if kernel["calls"] else float("nan"))
    return times


def row(what, base, new, unit=""):
    ratio = new / base if base == base and base else float("nan")
    print(f"{what:64} {base:14.1f} {new:14.1f} {ratio:9.3f}{unit}")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", required=True)
    parser.add_argument("--new", required=True)
    parser.add_argument("--base-context")
    parser.add_argument("--new-context")
    args = parser.parse_args()
    if bool(args.base_context) != bool(args.new_context):
        print("error: --base-context and --new-context go together",
              file=sys.stderr)
        return 2
    base, new = load(args.base), load(args.new)
    pairs = [(base, new)]
    if args.base_context:
        pairs.append((load(args.base_context), load(args.new_context)))

    print(f"base: {base['backend']}")
    print(f"new:  {new['backend']}")
    print(f"\n{'tokens/s':64} {'base':>14} {'new':>14} {'new/base':>9}")
    for b, n in pairs:
        context = n["decode"].get("context", 0)
        row(f"decode{f' at {context}' if context else ''}",
            rate(b["decode"]), rate(n["decode"]))
    base_prefill = {p["tokens"]: rate(p) for p in base["prefill"]}
    for p in new["prefill"]:
        row(f"prefill {p['tokens']}", base_prefill.get(p["tokens"], float("nan")),
            rate(p))

    print(f"\n{'kernel: us a call':64} {'base':>14} {'new':>14} "
          f"{'new/base':>9}")
    for b, n in pairs:
        base_times = kernel_times(b)
        for key, (label, us) in kernel_times(n).items():
            row(label[:64], base_times.get(key, ("", float("nan")))[1], us)
    return 0


if __name__ == "__main__":
    sys.exit(main())
