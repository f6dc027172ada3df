"""Elastic rollout workers: ``moto scale RUN N`` asks a live run for N workers.

The request is a small JSON file in the run directory (``workers.json``), written atomically; the
driver looks at it about once a second and grows or shrinks its fleet. The update-to-data ratio is
held by the schedule whatever the fleet size, so scaling changes throughput, never the algorithm.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from moto_rl.common.errors import UserError

REQUEST_FILE = "workers.json"


def request_scale(run_dir: str | Path, workers: int) -> Path:
    if workers < 1:
        raise UserError(f"a run needs at least 1 rollout worker, got {workers}")
    path = Path(run_dir) / REQUEST_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"num_workers": int(workers), "requested_at": time.time()}))
    os.replace(tmp, path)
    return path


def read_scale_request(run_dir: str | Path) -> int | None:
    path = Path(run_dir) / REQUEST_FILE
    try:
        return int(json.loads(path.read_text())["num_workers"])
    except (FileNotFoundError, ValueError, KeyError, json.JSONDecodeError):
        return None


NON_WORKER_CPUS = 2  # the learner and the evaluation worker hold one CPU each; every rollout worker one


def local_worker_capacity(total_cpus: float) -> int:
    """Rollout workers a Ray of ``total_cpus`` fixed CPUs holds at once beside the run's other actors. At
    least one."""
    return max(1, int(total_cpus) - NON_WORKER_CPUS)


def main(args: argparse.Namespace) -> int:
    run = Path(args.run_dir)
    if not (run / "config.yaml").is_file():
        raise UserError(f"{run} is not a run directory (no config.yaml); pass the directory `moto train` printed")
    path = request_scale(run, args.workers)
    print(f"asked {run} for {args.workers} rollout workers ({path}); the driver picks it up within a second")
    return 0
