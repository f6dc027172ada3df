"""Test-wide settings: headless rendering and CPU-only, small thread counts (CI has 2 cores)."""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
# Ray 2.60's `ray start --head` turns on token auth; a later in-process head of another test then
# disagrees with its own GCS about the mode. Every test cluster listens on 127.0.0.1 only: no auth.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
