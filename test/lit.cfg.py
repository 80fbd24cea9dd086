# -*- Python -*-
import os

import lit.formats
from lit.llvm import llvm_config
from lit.llvm.subst import ToolSubst

config.name = "llamac"
config.test_format = lit.formats.ShTest(not llvm_config.use_lit_shell)
config.suffixes = [".mlir", ".test"]
config.excludes = ["Inputs", "CMakeLists.txt", "lit.cfg.py", "lit.site.cfg.py"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.llamac_obj_root, "test")

llvm_config.use_default_substitutions()
llvm_config.with_environment("PATH", config.llvm_tools_dir, append_path=True)
# The kernel emulator's schedule (LLAMAC_EMU_ORDER) and TMA timing
# (LLAMAC_EMU_TMA) reach every emulated test, so that the whole suite can be
# run under either.
for name in ("LLAMAC_EMU_ORDER", "LLAMAC_EMU_TMA"):
    if name in os.environ:
        config.environment[name] = os.environ[name]

# The real models live outside the repo; LLAMAC_MODELS_DIR overrides where.
models = os.environ.get("LLAMAC_MODELS_DIR", config.llamac_models_dir)
config.substitutions.append(("%models", models))
if os.path.exists(os.path.join(models, "stories260K.bin")):
    config.available_features.add("models")
else:
    lit_config.note("real models not found in %s: tests that need them are "
                    "UNSUPPORTED (set LLAMAC_MODELS_DIR)" % models)

llvm_config.add_tool_substitutions(
    [ToolSubst("llamac", unresolved="fatal"),
     ToolSubst("llama-opt", unresolved="fatal"),
     ToolSubst("llama-run", unresolved="fatal"),
     ToolSubst("llama-cuda-emu", unresolved="fatal")],
    [config.llamac_tools_dir])

# Scripts shared by the tests (logit comparison).
config.substitutions.append(("%python", config.python_executable))
config.substitutions.append(("%scripts", os.path.join(config.test_source_root, "scripts")))
config.substitutions.append(
    ("%llama_run_path", os.path.join(config.llamac_tools_dir, "llama-run")))
config.substitutions.append(("%llamac_tools_dir", config.llamac_tools_dir))

# The emulated GPU: llama-cuda-emu's artifacts run through the fake driver.
config.substitutions.append(("%fake_libcuda", config.fake_libcuda))

# `REQUIRES: asan`: the compiler's shared AddressSanitizer runtime, which
# llama-run preloads to run kernels built by `llama-cuda-emu --asan`.
def _asan_runtime():
    import subprocess
    for name in ["libclang_rt.asan-x86_64.so", "libasan.so"]:
        try:
            path = subprocess.run([config.cxx_compiler, "-print-file-name=" + name],
                                  capture_output=True, text=True).stdout.strip()
        except OSError:
            return None
        if os.path.isabs(path) and os.path.exists(path):
            return path
    return None

def _offer(feature, placeholder, value, missing):
    """Adds `feature` and substitutes `placeholder` by `value` when there is
    one; else notes that `missing` makes REQUIRES: feature tests UNSUPPORTED."""
    if value:
        config.available_features.add(feature)
        config.substitutions.append((placeholder, value))
    else:
        lit_config.note("%s: tests marked REQUIRES: %s are UNSUPPORTED" %
                        (missing, feature))

_offer("asan", "%asan_runtime", _asan_runtime(),
       "no shared AddressSanitizer runtime")

# `REQUIRES: cuda` tests need a working driver and at least one GPU; the
# driver is asked directly, as llama-run would.
def _has_cuda_gpu():
    import ctypes
    try:
        cuda = ctypes.CDLL(os.environ.get("LLAMAC_LIBCUDA", "libcuda.so.1"))
    except OSError:
        return False
    count = ctypes.c_int(0)
    return cuda.cuInit(0) == 0 and cuda.cuDeviceGetCount(ctypes.byref(count)) == 0 \
        and count.value > 0

if _has_cuda_gpu():
    config.available_features.add("cuda")
else:
    lit_config.note("no CUDA GPU: tests marked REQUIRES: cuda are UNSUPPORTED")

# `REQUIRES: torch` tests compare against PyTorch, which Debian installs for
# the system python only; %torch_python is the first interpreter that has it.
def _torch_python():
    import subprocess
    for python in ["/usr/bin/python3", config.python_executable]:
        try:
            found = subprocess.run([python, "-c", "import torch"],
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL).returncode == 0
        except OSError:
            found = False
        if found:
            return python
    return None

_offer("torch", "%torch_python", _torch_python(), "no python with torch")
