"""perf.keep_freed_memory: the learner's large blocks come from the heap, and freed heap stays mapped.

What the setting does is checked through glibc's own accounting (mallinfo2: bytes in mmap'd blocks,
bytes of heap), in a fresh interpreter per case since the setting is process-wide; that the Learner
applies it is checked in-process with a spy. (Page-fault counts of a single re-allocation
are not a stable probe: glibc's aligned allocation can leave a small chunk above a freed block, so the
next block of the same size may be placed above it instead of in it.)"""

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

_GLIBC = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
pytestmark = pytest.mark.skipif(
    not _GLIBC or tuple(int(v) for v in platform.libc_ver()[1].split(".")[:2]) < (2, 33),
    reason="glibc's malloc, 2.33 or later (mallinfo2)",
)

_PROBE = """
import ctypes, json, sys, torch

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                                                     "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = MallInfo2
mode = sys.argv[1]
if mode == "keep":
    from moto_rl.learner.allocator import keep_freed_memory
    assert keep_freed_memory() == ""
x = torch.ones(64 * 2**20)  # 256 MiB
alive = libc.mallinfo2()
del x
freed = libc.mallinfo2()
print(json.dumps({"mmapped_alive": alive.hblkhd, "heap_alive": alive.arena, "mmapped_freed": freed.hblkhd,
                  "heap_freed": freed.arena}))
"""
BLOCK = 256 * 2**20


def _probe(mode: str) -> dict:
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run([sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True, cwd=root)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_default_malloc_maps_the_block_and_unmaps_it_when_freed():
    default = _probe("default")  # what the setting changes: each large block is its own mapping
    assert default["mmapped_alive"] >= BLOCK
    assert default["mmapped_freed"] < BLOCK
    assert default["heap_freed"] < BLOCK


def test_kept_memory_serves_the_block_from_the_heap_and_keeps_it_after_free():
    kept = _probe("keep")
    assert kept["mmapped_alive"] < BLOCK
    assert kept["heap_alive"] >= BLOCK
    assert kept["heap_freed"] >= BLOCK  # not trimmed: the next step reuses these pages without faults


@pytest.mark.parametrize("keep", [True, False])
def test_the_learner_applies_it_when_asked_and_by_default(keep, monkeypatch):
    # in-process with a spy: what keep_freed_memory does to malloc is the two tests above
    from moto_rl.common.config import PerfConfig
    from moto_rl.common.config_loading import load_config
    from moto_rl.learner import learner as learner_module

    assert PerfConfig().keep_freed_memory is True
    calls = []
    monkeypatch.setattr(learner_module, "keep_freed_memory", lambda: calls.append(1) or "")
    learner_module.Learner(load_config(["size=tiny", f"perf.keep_freed_memory={keep}"]), 4)
    assert calls == ([1] if keep else [])
