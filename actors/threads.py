"""Thread limits for one worker process, so N workers use N cores instead of fighting over them.

The software renderer (Mesa llvmpipe behind EGL) starts one render thread per core by default, and
torch / OpenMP / MKL do the same; with 2 workers on 2 cores that oversubscribes 4x. The variables
must be in the environment before mujoco's GL context and torch's pools are created, so they travel
in the Ray ``runtime_env`` of each worker (see ``worker_actor_options``) and are set again at start.
"""

from __future__ import annotations

import os

# LP_NUM_THREADS: llvmpipe rasteriser threads (0 = render in the calling thread).
_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def thread_env(threads: int) -> dict[str, str]:
    """Environment variables that cap a process at ``threads`` compute threads."""
    n = str(max(1, int(threads)))
    env = {name: n for name in _VARS}
    # llvmpipe counts *extra* rasteriser threads; 1 thread total means 0 extra.
    env["LP_NUM_THREADS"] = "0" if int(n) <= 1 else n
    return env


def limit_threads(threads: int) -> None:
    """Apply the limits in this process (effective for pools not yet created)."""
    os.environ.update(thread_env(threads))
    try:
        import torch

        torch.set_num_threads(max(1, int(threads)))
    except ImportError:  # torch is optional for scripted workers
        pass
