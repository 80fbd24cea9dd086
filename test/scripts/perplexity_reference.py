"""The mean loss `llama-run perplexity` should print for some token ids,
computed another way: each window's logits come from `llama-run logits`
(a prefill artifact: the KV-cache entry, not forward_loss), and the cross
entropy of each scored prediction is taken here in f64.

Windows are planned as runtime/PerplexityWindows.h says: `seq` inputs each,
`stride` apart, every prediction scored once, by the first window that
reaches it, the last window moved back to end at the last token.

Usage: perplexity_reference.py --llama-run BIN --artifact PREFILL.art
         --weights W --tokens IDS --seq S --stride T
"""
import argparse
import math
import subprocess


def windows(tokens, seq, stride):
    """(start, first scored index) of each window."""
    predictions = tokens - 1
    planned, scored, start = [], 0, 0
    while start + seq <= predictions:
        planned.append((start, max(scored - start, 0)))
        scored = start + seq
        start += stride
    if scored < predictions:
        start = predictions - seq
        planned.append((start, scored - start))
    return planned


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--llama-run", required=True)
    parser.add_argument("--artifact", required=True)
    parser.add_argument("--weights", required=True)
    parser.add_argument("--tokens", required=True)
    parser.add_argument("--seq", type=int, required=True)
    parser.add_argument("--stride", type=int, required=True)
    args = parser.parse_args()
    ids = [int(t) for t in args.tokens.split(",")]
    total, count = 0.0, 0
    for start, first in windows(len(ids), args.seq, args.stride):
        inputs = ids[start:start + args.seq]
        out = subprocess.run(
            [args.llama_run, "logits", "--artifact", args.artifact,
             "--weights", args.weights, "--mode", "prefill", "--tokens",
             ",".join(map(str, inputs))],
            check=True, capture_output=True, text=True).stdout
        rows = [[float(x) for x in line.split()] for line in out.splitlines()]
        assert len(rows) == args.seq, (len(rows), args.seq)
        for i in range(first, args.seq):
            row = rows[i]
            top = max(row)
            log_sum = top + math.log(math.fsum(math.exp(x - top) for x in row))
            total += log_sum - row[ids[start + i + 1]]
            count += 1
    print(f"loss {total / count:.6f} over {count} predictions")


if __name__ == "__main__":
    main()
