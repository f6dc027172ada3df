"""The driver's rollout workers: which are idle, which are collecting, and resizing the fleet.

Shrinking never cuts an episode short: a worker chosen to go finishes the episode it is on (which
is stored and counted) and is then stopped. A worker that crashed or lost its node is restarted by
Ray (on the remaining nodes, or on one the autoscaler adds); until it answers again it is
``reviving``, and the others keep collecting meanwhile. One that is not back within
``workers.restart_timeout_s`` is reported once; when no worker is left collecting (every one reviving
past that bound, or dead for good) the run stops with a message (``moto_rl.common.restartable.ActorGone``).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, RayActorError

from moto_rl.actors.worker import make_rollout_workers
from moto_rl.common.config import MotoConfig
from moto_rl.common.restartable import SETTING, ActorGone, actor_state

log = logging.getLogger("moto.fleet")


class Fleet:
    def __init__(self, cfg: MotoConfig, store_url: str, board_name: str):
        """``board_name``: the name of the run's ``WeightBoard``, which every worker polls."""
        self.cfg, self.store_url, self.board_name = cfg, store_url, board_name
        self.workers: dict[int, Any] = dict(enumerate(self._start_workers(cfg.workers.num_workers, first_index=0)))
        self.idle: list[int] = sorted(self.workers, reverse=True)
        self.busy: dict[Any, tuple[int, int]] = {}  # ObjectRef of a run() call -> (worker index, episodes)
        self.retiring: set[int] = set()
        self.reviving: dict[Any, int] = {}  # ObjectRef of an info() call to a restarting worker -> its index
        self.reviving_since: dict[int, float] = {}  # worker index -> when it died (monotonic seconds)
        self.reported_late: set[int] = set()  # reviving workers already reported as past the bound
        self.resume_hint = "continue the run with `moto train --resume RUN`"  # the driver names the run

    @property
    def size(self) -> int:
        """Workers that will keep collecting (retiring ones excluded)."""
        return len(self.workers) - len(self.retiring)

    @property
    def episodes_in_flight(self) -> int:
        return sum(n for _, n in self.busy.values())

    def start_episodes(self, n: int) -> Any:
        """An idle worker plays ``n`` episodes (up to one per env, stepped in lock-step)."""
        i = self.idle.pop()
        ref = self.workers[i].run.remote(n)
        self.busy[ref] = (i, n)
        return ref

    def finished(self, ref: Any) -> int:
        """A run() call returned (or failed): the worker is idle again, or stopped if retiring."""
        i, _ = self.busy.pop(ref)
        if i in self.retiring:
            self._stop(i)
        else:
            self.idle.append(i)
        return i

    def revive(self, i: int) -> None:
        """After a crash: worker ``i`` gets no work until Ray has restarted it (an info() call answers)."""
        if i in self.idle:
            self.idle.remove(i)
        if i in self.workers:
            self.reviving_since.setdefault(i, time.monotonic())
            self.reviving[self.workers[i].info.remote()] = i

    def revived(self, ref: Any) -> bool:
        """An info() call of a reviving worker returned: True if the worker is back (idle, or stopped if retiring)."""
        i = self.reviving.pop(ref)
        try:
            ray.get(ref)
        except (ActorUnavailableError, RayActorError) as e:  # still restarting, or died again meanwhile: ask again
            self._check_revival(i, e)
            time.sleep(0.2)
            self.revive(i)
            return False
        self.reviving_since.pop(i, None)
        self.reported_late.discard(i)
        if i in self.retiring:
            self._stop(i)
        else:
            self.idle.append(i)
        return True

    def _check_revival(self, i: int, error: BaseException) -> None:
        """Worker ``i`` is still not back: raise ``ActorGone`` if it never will be, or if no worker is left
        collecting past the bound; report it once when it passes the bound."""
        timeout = self.cfg.workers.restart_timeout_s
        if not isinstance(error, ActorUnavailableError) and actor_state(self.workers[i]) == "DEAD":
            raise ActorGone(
                f"rollout worker {i} died and Ray will not restart it ({type(error).__name__}); {self.resume_hint}"
            )
        now, since = time.monotonic(), self.reviving_since[i]
        if now - since <= timeout:
            return
        late = {j for j, t in self.reviving_since.items() if now - t > timeout and j not in self.retiring}
        if late >= set(self.workers) - self.retiring:
            raise ActorGone(
                f"no rollout worker came back within {SETTING}={timeout:g} s after they died (workers "
                f"{sorted(late)}); usually no node has room for them (a free CPU each, and a `rollout` unit on "
                f"clusters with rollout nodes): add nodes or raise {SETTING}, then {self.resume_hint}"
            )
        if i not in self.reported_late:
            self.reported_late.add(i)
            log.warning(
                "rollout worker %d is not back %.0f s after it died (%s=%g); the others keep collecting "
                "and the run stops only if none is left",
                i,
                now - since,
                SETTING,
                timeout,
            )

    def _start_workers(self, n: int, first_index: int) -> list[Any]:
        """Rollout workers that Ray restarts without limit (a lost node must not end the run)."""
        return make_rollout_workers(
            self.cfg, self.store_url, self.board_name, n=n, max_restarts=-1, first_index=first_index
        )

    def resize(self, n: int) -> None:
        n = max(1, n)
        while self.size < n:
            if self.retiring:  # cheapest: keep one that was about to go
                i = max(self.retiring)
                self.retiring.discard(i)
                continue
            i = max(self.workers) + 1
            (self.workers[i],) = self._start_workers(1, first_index=i)
            self.idle.append(i)
        while self.size > n:
            i = max(set(self.workers) - self.retiring)
            if i in self.idle:
                self.idle.remove(i)
                self._stop(i)
            else:
                self.retiring.add(i)

    def _stop(self, i: int) -> None:
        self.retiring.discard(i)
        self.reviving_since.pop(i, None)
        ray.kill(self.workers.pop(i), no_restart=True)
