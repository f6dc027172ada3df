"""Waiting on a Ray actor that may be restarting: one bounded wait, one clear message when it gives up.

An actor with ``max_restarts`` (the rollout workers, the evaluation worker, the weight board) that dies
(a crash, its node lost) is restarted by Ray. Until the new process has run its constructor, calls to
it fail rather than wait: ``ActorUnavailableError`` ("The actor is restarting"), or ``ActorDiedError``
(a ``RayActorError``) for a call that reached the dying process. Neither means "gone for good"; the
actor table in the GCS does (state ``DEAD``: no restarts left, or ``ray.kill(..., no_restart=True)``).

``call_restartable`` makes the call again until it answers, the actor is dead for good, or
``timeout_s`` passes (``workers.restart_timeout_s``: Ray may never place the restarted actor when no
node has room for it). It then raises ``ActorGone``, a ``UserError``: the CLI prints its one line
(what died, why the wait ended, what to do) without a traceback.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from moto_rl.common.errors import UserError, first_line

SETTING = "workers.restart_timeout_s"
POLL_SECONDS = 0.2  # between calls while the actor restarts (a failed call may return at once)


class ActorGone(UserError):
    """A restartable actor did not come back: dead for good, or not restarted within the bound."""


def actor_state(actor: Any) -> str | None:
    """The actor's state in the GCS actor table (ALIVE, RESTARTING, DEAD, ...), or None if unknown."""
    try:
        return ray._private.state.actors(actor_id=actor._actor_id.hex())["State"]
    except Exception:  # not connected, an API change: then only the bound ends the wait
        return None


def call_restartable(
    actor: Any,
    call: Callable[[], Any],
    what: str,
    timeout_s: float,
    fix: str = "",
    first_error: BaseException | None = None,
) -> Any:
    """``ray.get(call())``, made again while ``actor`` restarts, for at most ``timeout_s`` seconds.

    ``call`` submits one task to ``actor`` and returns its ObjectRef (e.g. ``lambda: w.info.remote()``).
    ``what`` names the actor in the message ("the evaluation worker"), ``fix`` says what to do then
    (e.g. "continue the run with `moto train --resume RUN`"); ``first_error``: the failure that made
    the caller wait, named in the message if nothing later is.
    """
    deadline = time.monotonic() + timeout_s
    last = first_error
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _gone(what, f"Ray did not restart it within {SETTING}={timeout_s:g} s", last, fix, slow=True)
        try:
            return ray.get(call(), timeout=remaining)
        except GetTimeoutError:
            continue  # the deadline check above ends the wait
        except RayActorError as e:  # ActorUnavailableError (restarting) included
            last = e
            if not isinstance(e, ActorUnavailableError) and actor_state(actor) == "DEAD":
                raise _gone(what, "it died and Ray will not restart it", e, fix, slow=False) from e
        time.sleep(min(POLL_SECONDS, max(0.0, deadline - time.monotonic())))


def _gone(what: str, why: str, cause: BaseException | None, fix: str, slow: bool) -> ActorGone:
    detail = f" (last error: {first_line(cause)})" if cause is not None else ""
    hint = (
        "; usually no node has room for it (a free CPU, and its custom resource if it asks one) or its node "
        f"keeps failing: add a node, or raise {SETTING}"
        if slow
        else ""
    )
    return ActorGone(f"{what} did not come back: {why}{detail}{hint}" + (f". {fix}" if fix else ""))
