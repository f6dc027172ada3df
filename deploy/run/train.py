"""``moto train``: start (or resume) a run, drive it to the end, print the summary."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import ray

from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import load_config
from moto_rl.common.errors import UserError, first_line
from moto_rl.deploy.run.checkpoints import prepare_init_from, write_init_record
from moto_rl.deploy.run.run_dir import RunDirectory, discard_failed_start
from moto_rl.deploy.run.scale import NON_WORKER_CPUS
from moto_rl.deploy.run.stopping import STOP, StopRequested


def init_ray(cfg: MotoConfig, on_give_up: Callable[[], None] | None = None) -> bool:
    """Join the cluster named by ``workers.ray_address`` or start a local Ray; True if we started it.

    ``log_to_driver``: what actors print (a learner's warning about a skipped corrupt episode, a
    worker's crash) reaches this process's output, prefixed with the actor's name, pid and node IP.
    Joining is bounded by ``workers.connect_timeout_s`` (``join_cluster``); ``on_give_up`` runs first then.
    """
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env_vars = {
        "MUJOCO_GL": cfg.env.gl_backend,
        "PYOPENGL_PLATFORM": cfg.env.gl_backend if cfg.env.gl_backend != "glfw" else "",
    }
    runtime_env = {"env_vars": {k: v for k, v in env_vars.items() if v}}
    if cfg.workers.ray_address:
        join_cluster(cfg, runtime_env, on_give_up)
        return True
    # Logical CPUs: learner + workers + evaluation worker each hold one; on a small machine they share cores.
    num_cpus = max(os.cpu_count() or 1, cfg.workers.num_workers + NON_WORKER_CPUS)
    temp_dir = os.environ.get("MOTO_RAY_TMP") or os.path.join(tempfile.gettempdir(), "moto-ray")
    ray.init(
        num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir, runtime_env=runtime_env, log_to_driver=True
    )
    return True


def join_failure(cfg: MotoConfig, why: str) -> str:
    """The one line printed when joining ``workers.ray_address`` gives up."""
    return (
        f"could not join the Ray cluster at workers.ray_address={cfg.workers.ray_address} within "
        f"workers.connect_timeout_s={cfg.workers.connect_timeout_s:g} s ({why}). Common causes: a wrong host or "
        "port (the head's GCS port, 6379 by default; `ray status` on the head prints it), a firewall, the cluster "
        "not started yet, or a node-IP mismatch: a cluster started with --node-ip-address=127.0.0.1 joined from "
        "another machine, or from this one while Ray gives the driver the machine's own IP"
    )


def gcs_host_port(address: str) -> tuple[str, int] | None:
    """HOST and PORT of ``HOST:PORT`` or ``ray://HOST:PORT`` (the client server's port); None for "auto"."""
    rest = address.split("://", 1)[-1]
    host, sep, port = rest.rpartition(":")
    if not sep or not port.isdigit():
        return None
    return host.strip("[]") or "127.0.0.1", int(port)


def probe(host: str, port: int, timeout_s: float) -> str | None:
    """None once a TCP connection to HOST:PORT opens (retried until ``timeout_s``), else the last error."""
    deadline, error = time.monotonic() + timeout_s, "no attempt"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return error
        try:
            with socket.create_connection((host, port), timeout=min(left, 5.0)):
                return None
        except OSError as e:
            error = f"{host}:{port}: {e.strerror or type(e).__name__}"
        time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))


def join_cluster(cfg: MotoConfig, runtime_env: dict, on_give_up: Callable[[], None] | None = None) -> None:
    """``ray.init(address=...)``, bounded: Ray retries an unreachable GCS without end (a warning every 30 s).

    First a plain TCP connect to the address (fails fast: wrong port, no cluster); then ``ray.init`` under
    a watchdog that, past the bound (a GCS that accepts but never answers, a node-IP mismatch), prints the
    one line and ends the process with exit status 2 (``ray.init`` cannot be interrupted from Python).
    """
    timeout = cfg.workers.connect_timeout_s
    started = time.monotonic()
    target = gcs_host_port(cfg.workers.ray_address)
    if target is not None and (error := probe(*target, timeout)) is not None:
        raise UserError(join_failure(cfg, f"no connection: {error}"))
    done = threading.Event()

    def give_up() -> None:
        if done.is_set():
            return
        if on_give_up is not None:
            on_give_up()
        print(
            f"moto: error: {join_failure(cfg, 'the address answers but ray.init did not finish')}",
            file=sys.stderr,
            flush=True,
        )
        os._exit(2)

    watchdog = threading.Timer(max(1.0, timeout - (time.monotonic() - started)), give_up)
    watchdog.daemon = True
    watchdog.start()
    try:
        ray.init(address=cfg.workers.ray_address, runtime_env=runtime_env, log_to_driver=True)
    finally:
        done.set()
        watchdog.cancel()


def absolute_paths(cfg: MotoConfig) -> MotoConfig:
    """Local paths in the config made absolute, so actors on any node (whose working directory is not
    the driver's) and a later ``--resume`` from another folder find the same run and stores."""
    cfg.logging.root = os.path.abspath(os.path.expanduser(cfg.logging.root))
    for field in ("url", "offline_url"):
        value = getattr(cfg.storage, field)
        if value and "://" not in value:
            setattr(cfg.storage, field, os.path.abspath(os.path.expanduser(value)))
    return cfg


def start_ray(cfg: MotoConfig, run: RunDirectory, resume: bool) -> bool:
    """``init_ray`` for ``main``: a failed start's new run directory is removed. A first SIGINT / SIGTERM
    waits for ``ray.init`` (so what it started is shut down), whose SIGTERM handler is replaced by ours."""
    try:
        with STOP.deferred():
            return init_ray(cfg, on_give_up=None if resume else lambda: discard_failed_start(run))
    except SystemExit as e:  # ray.init's own SIGTERM handler, installed while it runs, exits with the signal
        if e.code != signal.SIGTERM:
            raise
        STOP.signum = STOP.signum or signal.SIGTERM
        raise StopRequested(signal.SIGTERM) from None
    except UserError:  # e.g. the cluster at workers.ray_address could not be joined in time
        if not resume:
            discard_failed_start(run)
        raise
    except Exception as e:  # e.g. Ray's "node timed out during startup" on an overloaded machine
        if not resume:
            discard_failed_start(run)
        fix = (
            f"check that a Ray cluster runs at workers.ray_address={cfg.workers.ray_address} and that this "
            f"machine reaches it"
            if cfg.workers.ray_address
            else "try again once the machine is less loaded, or stop a stale Ray with `ray stop`"
        )
        raise UserError(f"Ray did not start ({first_line(e)}); the new run directory was removed; {fix}") from e
    finally:
        STOP.install()


def stopped_line(run: RunDirectory | None) -> str:
    """The one line a stopped ``moto train`` ends with (deploy/run/stopping.py)."""
    if run is None:
        return f"moto: stopped by {STOP.name} before the run directory was created"
    last = run.latest_checkpoint()
    where = f"at checkpoint {last.name}" if last else "before its first checkpoint (a resume starts it over)"
    return f"moto: stopped by {STOP.name} {where}; continue the run with `moto train --resume {run.path.absolute()}`"


def main(args: argparse.Namespace) -> int:
    """Exit status 0; 2 for a UserError (printed by the CLI); 130 / 143 when stopped by SIGINT / SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    previous_handlers = STOP.start()  # SIGINT, SIGTERM: a checkpoint, the actors stopped, the resume line
    ray_before = ray.is_initialized()
    run: RunDirectory | None = None
    started_ray = stopped = False
    try:
        if args.resume:
            if args.overrides:
                raise UserError(
                    "--resume continues a run with its own config.yaml; drop the overrides (or start a new run)"
                )
            run, cfg = RunDirectory.open(args.resume)
            run.discard_staging()  # what a killed process left half-written
            checkpoint = run.latest_checkpoint()
            print(f"resuming {run.path} from {checkpoint.name if checkpoint else 'the start (no checkpoint yet)'}")
        else:
            cfg = absolute_paths(load_config(args.overrides))
            init_record = prepare_init_from(cfg, list(args.overrides)) if cfg.init_from else None
            run = RunDirectory.create(cfg)
            checkpoint = None
            if init_record:
                write_init_record(run.path, init_record)
                print(f"fine-tuning from {init_record['checkpoint']} (learner step {init_record['learner_step']})")
            print(f"run directory: {run.path}")
        # The driver module imports torch, the learner and the actors (after config errors are out): in a
        # thread, while Ray's own processes start on the other cores (ray.init stays in the main thread,
        # where it may install signal handlers)
        importing = ThreadPoolExecutor(1, thread_name_prefix="import-driver")
        driver_module = importing.submit(importlib.import_module, "moto_rl.deploy.run.driver")
        importing.shutdown(wait=False)
        started_ray = start_ray(cfg, run, bool(args.resume))
        Driver = driver_module.result().Driver
        print(Driver(cfg, run, checkpoint).run())
    except UserError:
        if run is not None and not args.resume:
            discard_failed_start(run)
        raise
    except KeyboardInterrupt:  # SIGINT / SIGTERM; the driver has written its last checkpoint
        STOP.shutting_down()
        stopped = True
    finally:
        try:
            if started_ray or (stopped and not ray_before):  # the actors stop with it
                ray.shutdown()
            if stopped:
                if run is not None and run.path.is_dir():
                    run.discard_staging()  # after the learner is gone: nothing writes into them any more
                print(stopped_line(run), file=sys.stderr, flush=True)
        finally:
            STOP.restore(previous_handlers)
    return STOP.exit_code if stopped else 0
