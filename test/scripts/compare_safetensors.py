#!/usr/bin/env python3
"""Compares two F32 .safetensors files tensor by tensor within a tolerance.

For checkpoints or gradients written by two backends (llama-run train --save,
llama-run grads) from the same inputs. Both files must hold the same tensor
names and shapes, and every tensor must satisfy, relative to its largest
expected entry,
    rel = max |actual - expected| / max |expected| <= rtol.
With --baseline B, training updates are compared instead: every tensor that
B also holds is replaced by its difference from B's (the weights after
training minus the initial weights). With --norm l2 the bound is on
    rel = ||actual - expected||_2 / ||expected||_2,
which suits AdamW's early updates: about lr * sign(grad) per element, so a
gradient near 0 flips single elements by 2 lr while the update as a whole
agrees.
Prints the worst tensor and one summary line:
    LABEL: PASS (N tensors, worst rel R at NAME, rtol T)
and exits 1 on any failure, naming it.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llama import read_safetensors  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("expected")
    parser.add_argument("actual")
    parser.add_argument("--rtol", type=float, required=True,
                        help="bound on max|diff| / max|expected| per tensor")
    parser.add_argument("--label", default="compare")
    parser.add_argument("--baseline",
                        help="compare differences from this file's tensors")
    parser.add_argument("--norm", choices=["max", "l2"], default="max")
    args = parser.parse_args()
    expected = read_safetensors(args.expected)
    actual = read_safetensors(args.actual)
    if args.baseline:
        baseline = read_safetensors(args.baseline)
        for tensors in (expected, actual):
            for name, base in baseline.items():
                if name in tensors and tensors[name].shape == base.shape:
                    tensors[name] = (tensors[name].astype(np.float64) -
                                     base.astype(np.float64))

    failures = []
    for name in sorted(set(expected) ^ set(actual)):
        where = args.actual if name in expected else args.expected
        failures.append(f"'{name}' is missing from {where}")
    worst, worst_name = 0.0, "-"
    for name in sorted(set(expected) & set(actual)):
        e = expected[name].astype(np.float64)
        a = actual[name].astype(np.float64)
        if e.shape != a.shape:
            failures.append(f"{name}: shape {list(a.shape)}, expected "
                            f"{list(e.shape)}")
            continue
        if args.norm == "l2":
            diff = float(np.linalg.norm(a - e))
            ref = float(np.linalg.norm(e))
        else:
            diff = float(np.abs(a - e).max()) if e.size else 0.0
            ref = float(np.abs(e).max()) if e.size else 0.0
        rel = diff / ref if ref > 0 else (0.0 if diff == 0 else np.inf)
        # NaN never passes a comparison, so test for success.
        if not rel <= args.rtol:
            failures.append(f"{name}: rel {rel:.3e} > {args.rtol:.0e}")
        elif rel >= worst:
            worst, worst_name = rel, name
    for failure in failures:
        print(f"{args.label}: error: {failure}")
    verdict = "FAIL" if failures else "PASS"
    print(f"{args.label}: {verdict} ({len(expected)} tensors, worst rel "
          f"{worst:.1e} at {worst_name}, rtol {args.rtol:.0e})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
