#!/usr/bin/env python3
"""Compares two logits dumps of `llama-run logits` within a tolerance.

Each line holds the logits of one token, as space-separated floats. Prints the
largest absolute difference and fails when it exceeds --atol, or when the
shapes differ, so that a test can state its tolerance explicitly.
"""
import argparse
import sys


def read(path):
    with open(path) as f:
        return [[float(v) for v in line.split()] for line in f if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("expected")
    parser.add_argument("actual")
    parser.add_argument("--atol", type=float, required=True)
    args = parser.parse_args()
    a, b = read(args.expected), read(args.actual)
    if len(a) != len(b) or any(len(x) != len(y) for x, y in zip(a, b)):
        print(f"shape mismatch: {len(a)} vs {len(b)} rows")
        return 1
    if not a:
        print("no logits to compare")
        return 1
    worst = max(abs(x - y) for ra, rb in zip(a, b) for x, y in zip(ra, rb))
    print(f"rows {len(a)} max-abs-diff {worst:.3e} atol {args.atol:.1e}")
    return 0 if worst <= args.atol else 1


if __name__ == "__main__":
    sys.exit(main())
