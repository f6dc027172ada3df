"""How a new policy version reaches the rollout workers: a ``WeightBoard``.

The learner and the workers never hold handles to each other. The driver asks the learner for its
weights (``learner.policy_weights.remote()`` already returns an ObjectRef that lives in the object
store) and pins the ref on the board::

    board, name = start_weight_board()
    board.publish.remote(version, [weights_ref])   # wrapped in a list so Ray passes the ref, not the data

Workers poll ``board.latest.remote(known_version)`` between episodes (or every K steps); it answers
``None`` when nothing newer exists, so a poll is one tiny RPC and the weights are fetched from the
object store only when the version changed. The board holds only the newest ref, so old versions
are freed by Ray's reference counting.

Workers are given the board's name, not its handle: Ray logs an error for every restartable actor
whose constructor receives a handle or an ObjectRef (ray-project/ray#53727: such an argument may be
gone when the actor restarts), and a name is plain data.

``WeightSource`` is the worker-side view; ``BoardWeightSource`` reads a board, ``StaticWeightSource``
serves fixed weights (tests, evaluation, a single-process run without Ray).
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

import ray

from moto_rl.common.config import WorkersConfig
from moto_rl.common.restartable import call_restartable

Weights = dict  # dict[str, torch.Tensor], as returned by the learner's ``policy_weights()``


class WeightSource(Protocol):
    def latest(self, known_version: int) -> tuple[int, Weights] | None:
        """The newest ``(version, weights)`` if newer than ``known_version``, else None."""
        ...


class StaticWeightSource:
    """Serves whatever was last ``publish``-ed in this process (no Ray)."""

    def __init__(self, version: int = -1, weights: Weights | None = None):
        self.version, self.weights = version, weights

    def publish(self, version: int, weights: Weights) -> None:
        self.version, self.weights = int(version), weights

    def latest(self, known_version: int) -> tuple[int, Weights] | None:
        if self.weights is None or self.version <= known_version:
            return None
        return self.version, self.weights


class WeightBoardImpl:
    """Ray actor body: the newest ``(version, ObjectRef)``; versions only move forward."""

    def __init__(self) -> None:
        self._version = -1
        self._ref: Any = None

    def publish(self, version: int, ref_in_list: list) -> bool:
        """``ref_in_list`` is ``[ObjectRef]`` (a bare ref would be resolved into the weights by Ray)."""
        if len(ref_in_list) != 1:
            raise ValueError("publish(version, [weights_ref]): pass the ObjectRef wrapped in a one-item list")
        if version <= self._version:
            return False  # a late publish of an older version must not roll workers back
        self._version, self._ref = int(version), ref_in_list[0]
        return True

    def version(self) -> int:
        return self._version

    def latest(self, known_version: int) -> tuple[int, list] | None:
        if self._ref is None or self._version <= known_version:
            return None
        return self._version, [self._ref]


# num_cpus=0: the board only holds a ref; it must not take a core from a worker.
WeightBoard = ray.remote(num_cpus=0, max_restarts=-1)(WeightBoardImpl)


def start_weight_board() -> tuple[Any, str]:
    """A new ``WeightBoard`` under a name of its own (several runs may share a cluster): (handle, name)."""
    name = f"moto-weight-board-{uuid.uuid4().hex[:12]}"
    return WeightBoard.options(name=name).remote(), name


class BoardWeightSource:
    """Worker-side poller of the ``WeightBoard`` named ``board_name`` (in this job's Ray namespace).

    The board restarts without limit (its node lost): a poll made meanwhile waits for it, at most
    ``restart_timeout_s`` (``workers.restart_timeout_s``). A restarted board is empty until the driver's
    next publish, so the worker keeps its weights until then.
    """

    def __init__(self, board_name: str, restart_timeout_s: float = WorkersConfig.restart_timeout_s):
        if not isinstance(board_name, str):
            kind = type(board_name).__name__
            raise TypeError(f"give workers the WeightBoard's name (start_weight_board), not a {kind}")
        self.board = ray.get_actor(board_name)
        self.restart_timeout_s = restart_timeout_s

    def latest(self, known_version: int) -> tuple[int, Weights] | None:
        answer = call_restartable(
            self.board,
            lambda: self.board.latest.remote(known_version),
            "the weight board",
            self.restart_timeout_s,
            "the run stops; continue it with `moto train --resume RUN`",
        )
        if answer is None:
            return None
        version, (ref,) = answer
        return int(version), ray.get(ref)
