"""Waiting on a restartable actor (common/restartable.py, via moto_rl.actors.worker.wait_until_ready, which the
driver uses for the evaluation worker): the wait outlives a restart, and gives up with one clear
``UserError`` when the actor is killed for good or the bound passes (issue 33: a raw
``ActorUnavailableError: The actor is restarting`` traceback ended a run).

A real Ray head bound to 127.0.0.1 (the ``cluster`` fixture); the test process is the driver.
"""

import os
import threading
import time

import pytest
import ray
from helpers.cluster import connect

from moto_rl.actors.worker import wait_until_ready
from moto_rl.common.errors import UserError

pytestmark = [pytest.mark.ray, pytest.mark.timeout(180)]


@ray.remote(num_cpus=0, max_restarts=-1, max_task_retries=0)
class Restartable:
    """``info()`` like a rollout worker's; a restarted incarnation takes ``restart_s`` to construct."""

    def __init__(self, restart_s: float):
        if ray.get_runtime_context().was_current_actor_reconstructed:
            time.sleep(restart_s)  # a worker importing torch and building its envs on a busy node

    def info(self) -> dict:
        return {"pid": os.getpid()}


def _killed(restart_s: float):
    actor = Restartable.remote(restart_s)
    pid = ray.get(actor.info.remote())["pid"]
    ray.kill(actor, no_restart=False)  # like a crash: Ray restarts it
    time.sleep(0.5)  # the kill has landed: the next call meets the restart
    return actor, pid


def test_the_wait_outlives_a_restart_and_gives_up_clearly(cluster):
    """One cluster for the three cases (a head takes ~15 s to start on CI's 2 cores)."""
    connect(cluster)
    fix = "continue with `moto train --resume R`"

    # back: the wait returns the restarted process's answer
    actor, pid = _killed(restart_s=3.0)
    started = time.monotonic()
    assert wait_until_ready(actor, timeout_s=60)["pid"] != pid
    assert time.monotonic() - started < 30
    ray.kill(actor, no_restart=True)

    # the bound passes while it restarts: one clear line, soon after the bound
    actor, _ = _killed(restart_s=60.0)
    started = time.monotonic()
    with pytest.raises(UserError) as caught:
        wait_until_ready(actor, timeout_s=3, what="the evaluation worker", fix=fix)
    assert time.monotonic() - started < 15
    message = str(caught.value)
    assert message.startswith("the evaluation worker did not come back") and "\n" not in message
    assert "workers.restart_timeout_s=3" in message and message.endswith(fix)
    ray.kill(actor, no_restart=True)

    # killed for good mid-wait: it gives up at once (the actor table says DEAD), not at the bound
    actor, _ = _killed(restart_s=60.0)
    timer = threading.Timer(2.0, ray.kill, args=(actor,), kwargs={"no_restart": True})
    timer.start()
    started = time.monotonic()
    try:
        with pytest.raises(UserError) as caught:
            wait_until_ready(actor, timeout_s=120, what="the evaluation worker", fix=fix)
    finally:
        timer.join()
    assert time.monotonic() - started < 30
    message = str(caught.value)
    assert "died and Ray will not restart it" in message and message.endswith(fix) and "\n" not in message
