"""``moto bench NAME``: the benchmark contract shared by every part of the project.

Each benchmark is a function ``run(args) -> dict`` in the module that owns the thing measured (imported
here only when that benchmark runs, so one benchmark never pays for another's imports). With
``--json`` the result is printed as one JSON object on the last line of stdout; ``make bench``
collects them under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from collections.abc import Callable

BENCHES = ("env", "storage", "learner", "actors")


def _bench_function(name: str) -> Callable[[argparse.Namespace], dict]:
    if name == "env":
        from moto_rl.common.envs.bench import run
    elif name == "storage":
        from moto_rl.storage.bench import run
    elif name == "learner":
        from moto_rl.learner.bench import run
    elif name == "actors":
        from moto_rl.actors.bench import run
    else:
        raise ValueError(f"unknown benchmark {name!r}; one of {', '.join(BENCHES)}")
    return run


def main(args: argparse.Namespace) -> int:
    run = _bench_function(args.name)
    started = time.time()
    result = dict(run(args))
    result.setdefault("bench", args.name)
    result["host"] = platform.node()
    result["wall_s"] = round(time.time() - started, 2)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>32}: {value}")
    return 0
