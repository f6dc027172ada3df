"""``moto train`` stopped by SIGINT (Ctrl+C) or SIGTERM (``kill``, a scheduler's preemption): one way out.

Either signal, in any phase, raises ``StopRequested`` (a ``KeyboardInterrupt``) in the main thread; the
driver (deploy/run/driver.py) answers it by writing a last checkpoint if the learner answers within
``STOP_CHECKPOINT_TIMEOUT_S``, then ``moto train`` (deploy/run/train.py) shuts Ray down (its actors with
it), prints the one ``moto train --resume RUN_DIR`` line and exits 128 + the signal's number: 130 for
SIGINT, 143 for SIGTERM, as a shell reports a process the signal ended. No traceback.

- A checkpoint being written when the signal comes is finished first (``deferred``); checkpoints are
  written into a staging directory and renamed into place (run_dir.py), so one is whole or absent.
- A second signal stops at once: the last checkpoint on disk stays as it was (a half-written one is
  discarded). Later signals are ignored while Ray shuts down; SIGKILL always works, and the last
  checkpoint stays intact then too (tests/deploy/test_train_sigkill.py).

Ray's ``ray.get`` turns any ``KeyboardInterrupt`` raised by a handler into a fresh, plain one: the signal
that came is kept here (``STOP.signum``), not in the exception.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

STOP_CHECKPOINT_TIMEOUT_S = 120.0  # the most the last checkpoint may wait for the learner (its train() call first)
SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequested(KeyboardInterrupt):
    """SIGINT or SIGTERM came: stop the run, resumably."""


class StopSignals:
    """The process's SIGINT / SIGTERM handler: see the module docstring."""

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.signum: int | None = None  # the first signal received
        self.count = 0  # signals received
        self.pending = False  # the first signal came inside ``deferred``: raised when it ends
        self.final = False  # shutting down: signals are only counted
        self._deferring = 0

    def start(self) -> dict:
        """A fresh state and the handlers installed; returns the handlers they replace (for ``restore``)."""
        self._reset()
        previous = {sig: signal.getsignal(sig) for sig in SIGNALS}
        self.install()
        return previous

    def install(self) -> None:
        """(Re)install the handlers; main thread only. ``ray.init`` replaces SIGTERM's: call again after it."""
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                signal.signal(sig, self._handle)

    def restore(self, previous: dict) -> None:
        """The handlers ``start`` replaced (an in-process caller, e.g. a test, gets its own back)."""
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def _handle(self, signum: int, frame) -> None:  # no printing here: the main thread may be mid-write
        self.count += 1
        if self.signum is None:
            self.signum = signum
        if self.final or self.count > 2:
            return
        if self.count == 1 and self._deferring:
            self.pending = True
            return
        raise StopRequested(signum)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A block the first signal does not interrupt (a checkpoint write, ``ray.init``): it is raised
        when the block ends. A second signal interrupts it all the same."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1
            if not self._deferring and self.pending and not self.final:
                self.pending = False
                raise StopRequested(self.signum)

    def shutting_down(self) -> None:
        """From here on signals are ignored: Ray shuts down, the process exits."""
        self.final = True

    @property
    def name(self) -> str:
        return signal.Signals(self.signum or signal.SIGINT).name

    @property
    def exit_code(self) -> int:
        """128 + the signal's number: 130 for SIGINT (and a KeyboardInterrupt not from a signal), 143 for SIGTERM."""
        return 128 + int(self.signum or signal.SIGINT)

    @property
    def forced(self) -> bool:
        """A second signal came: no last checkpoint."""
        return self.count >= 2


STOP = StopSignals()  # the one instance, installed by `moto train` (deploy/run/train.py)
