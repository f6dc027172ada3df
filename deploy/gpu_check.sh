#!/usr/bin/env bash
# The learner's CUDA checks in one command, for a machine with an NVIDIA GPU and a CUDA build of
# PyTorch: the CUDA tests (tests/learner/test_cuda_learner.py: one update with every perf switch off,
# one with all on, torch.compile included, then a checkpoint round trip) and
# `moto bench learner --size paper --switches --device cuda`. Everything lands in OUT_DIR.
#
#   deploy/gpu_check.sh OUT_DIR [more bench options, e.g. --quick]     (PYTHON=... picks the python)
#
# Needs only torch, numpy, pyyaml, tqdm, pytest, pytest-timeout and omegaconf: the learner and its
# bench import neither Ray, Zarr nor the simulators (tests/learner/test_bench_imports.py), so a GPU node
# without network runs it from a plain checkout with omegaconf's one wheel on PYTHONPATH
# (`pip download --no-deps omegaconf==2.4.0` where there is network; it is pure Python).
set -uo pipefail
mkdir -p "${1:?usage: deploy/gpu_check.sh OUT_DIR [bench options]}" || exit 2
out=$(cd "$1" && pwd)  # absolute: the checks run from the repository root, the caller may be elsewhere
shift
py=${PYTHON:-python3}
cd "$(dirname "$0")/.." || exit 2

"$py" - <<'EOF' || exit 2
import sys
try:
    import torch
except ImportError:
    sys.exit(f"gpu_check: {sys.executable} has no PyTorch; set PYTHON to the python that has it.")
if not torch.cuda.is_available():
    sys.exit(f"gpu_check: torch {torch.__version__} sees no CUDA device (its CUDA: {torch.version.cuda}). "
             "Run this on a machine with an NVIDIA GPU and a CUDA build of PyTorch.")
print(f"gpu_check: torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")
EOF
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true

"$py" -m pytest -q -p no:cacheprovider tests/learner/test_cuda_learner.py 2>&1 | tee "$out/cuda_tests.log"
tests_rc=${PIPESTATUS[0]}

"$py" -m moto_rl.deploy.cli bench learner --size paper --switches --device cuda --json "$@" 2>&1 \
    | tee "$out/bench_learner_paper_cuda.log"
bench_rc=${PIPESTATUS[0]}
# the bench prints its result as one JSON line, last; a failed bench leaves only its log
[ "$bench_rc" -eq 0 ] && tail -n 1 "$out/bench_learner_paper_cuda.log" > "$out/bench_learner_paper_cuda.json"

echo "gpu_check: CUDA tests exit $tests_rc, bench exit $bench_rc; results in $out"
[ "$tests_rc" -eq 0 ] && [ "$bench_rc" -eq 0 ]
