"""Keep the learner's freed memory in the process (``perf.keep_freed_memory``).

glibc's malloc hands every large block (over 128 KiB to 32 MiB, adaptively) back to the kernel when it
is freed and maps fresh pages for the next one. A learner update allocates and frees the same large
activations every step, so each step the kernel zero-fills the same gigabytes again: measured at
paper size on a 2-core CPU (bf16), 0.45-1.5 million page faults and 0.7-1.6 s of kernel time per
update of 3.7-4.7 s. With large blocks served from the heap and the heap never trimmed, the same update
takes about no faults and 3.2-3.7 s, and the process keeps its peak (2.8 GB resident rising to
3.3-3.5 GB over 25 updates, instead of 2.3-2.65 GB).

Process-wide and irreversible in the process; glibc only (elsewhere a no-op that says so).
"""

from __future__ import annotations

import ctypes
import logging
import platform

_M_TRIM_THRESHOLD = -1  # mallopt parameters, glibc's malloc.h
_M_MMAP_MAX = -4


def keep_freed_memory() -> str:
    """Serve every allocation from the heap and never return freed heap to the kernel.

    Returns "" when applied, else why not (logged)."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        why = f"not glibc ({platform.system()} {platform.libc_ver()[0] or 'unknown libc'})"
    else:
        try:
            libc = ctypes.CDLL("libc.so.6")
            ok = libc.mallopt(_M_MMAP_MAX, 0) == 1 and libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
            why = "" if ok else "mallopt refused"
        except (OSError, AttributeError) as exc:
            why = f"glibc's mallopt unavailable ({exc})"
    if why:
        logging.getLogger("moto.learner").info("perf.keep_freed_memory: left as is, %s", why)
    return why
