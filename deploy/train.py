"""``moto train``: start (or resume) a run, drive it to the end, print the summary."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor

import ray

from common.config import MotoConfig
from common.config_loading import load_config
from common.errors import UserError, first_line
from deploy.checkpoints import prepare_init_from, write_init_record
from deploy.run_dir import RunDirectory, discard_failed_start
from deploy.scale import NON_WORKER_CPUS


def init_ray(cfg: MotoConfig) -> bool:
    """Join the cluster named by ``workers.ray_address`` or start a local Ray; True if we started it.

    ``log_to_driver``: what actors print (a learner's warning about a skipped corrupt episode, a
    worker's crash) reaches this process's output, prefixed with the actor's name, pid and node IP.
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
        ray.init(address=cfg.workers.ray_address, runtime_env=runtime_env, log_to_driver=True)
        return True
    # Logical CPUs: learner + workers + evaluation worker each hold one; on a small machine they share cores.
    num_cpus = max(os.cpu_count() or 1, cfg.workers.num_workers + NON_WORKER_CPUS)
    temp_dir = os.environ.get("MOTO_RAY_TMP") or os.path.join(tempfile.gettempdir(), "moto-ray")
    ray.init(
        num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir, runtime_env=runtime_env, log_to_driver=True
    )
    return True


def absolute_paths(cfg: MotoConfig) -> MotoConfig:
    """Local paths in the config made absolute, so actors on any node (whose working directory is not
    the driver's) and a later ``--resume`` from another folder find the same run and stores."""
    cfg.logging.root = os.path.abspath(os.path.expanduser(cfg.logging.root))
    for field in ("url", "offline_url"):
        value = getattr(cfg.storage, field)
        if value and "://" not in value:
            setattr(cfg.storage, field, os.path.abspath(os.path.expanduser(value)))
    return cfg


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.resume:
        if args.overrides:
            raise UserError(
                "--resume continues a run with its own config.yaml; drop the overrides (or start a new run)"
            )
        run, cfg = RunDirectory.open(args.resume)
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
    driver_module = importing.submit(importlib.import_module, "deploy.driver")
    importing.shutdown(wait=False)
    try:
        started_ray = init_ray(cfg)
    except Exception as e:  # e.g. Ray's "node timed out during startup" on an overloaded machine
        if not args.resume:
            discard_failed_start(run)
        fix = (
            f"check that a Ray cluster runs at workers.ray_address={cfg.workers.ray_address} and that this "
            f"machine reaches it"
            if cfg.workers.ray_address
            else "try again once the machine is less loaded, or stop a stale Ray with `ray stop`"
        )
        raise UserError(f"Ray did not start ({first_line(e)}); the new run directory was removed; {fix}") from e
    try:
        Driver = driver_module.result().Driver
        print(Driver(cfg, run, checkpoint).run())
    except UserError:
        if not args.resume:
            discard_failed_start(run)
        raise
    finally:
        if started_ray:
            ray.shutdown()
    return 0
