"""Writes the torch.save files that llamac's torch reader must refuse, each
in one way, so that a test can check the error names the file and reason.

Usage: damage_torch_checkpoint.py KIND GOOD.pth OUT.pth, where KIND is:

  legacy       the same state dict in the pre-1.6 (non-zip) format
  code         a state dict whose pickle calls os.system
  compressed   the same archive with its entries deflated
  short        the first storage cut to half its bytes
  not-tensor   {"tok_embeddings.weight": 3}
  int64        every tensor stored as int64
  drop         the state dict without its first tensor
"""
import collections
import os
import sys
import zipfile

import torch


class RunsCode:
    """What a malicious checkpoint holds: unpickling it runs a command."""

    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def rezip(good, out, compression, edit=lambda name, data: data):
    with zipfile.ZipFile(good) as source, \
            zipfile.ZipFile(out, "w", compression) as target:
        for info in source.infolist():
            target.writestr(info.filename, edit(info.filename,
                                                source.read(info)))


def main():
    kind, good, out = sys.argv[1:]
    state = torch.load(good)
    if kind == "legacy":
        torch.save(state, out, _use_new_zipfile_serialization=False)
    elif kind == "code":
        state["tok_embeddings.weight"] = RunsCode()
        torch.save(state, out)
    elif kind == "compressed":
        rezip(good, out, zipfile.ZIP_DEFLATED)
    elif kind == "short":
        def cut(name, data):
            return data[:len(data) // 2] if name.endswith("/data/0") else data
        rezip(good, out, zipfile.ZIP_STORED, cut)
    elif kind == "not-tensor":
        torch.save({"tok_embeddings.weight": 3}, out)
    elif kind == "int64":
        torch.save(collections.OrderedDict(
            (name, tensor.to(torch.int64)) for name, tensor in state.items()),
            out)
    elif kind == "drop":
        state.pop(next(iter(state)))
        torch.save(state, out)
    else:
        sys.exit("unknown kind " + kind)


if __name__ == "__main__":
    main()
