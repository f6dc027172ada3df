"""``moto bench NAME``: the benchmark contract shared by every part of the project.

Each benchmark is a function ``run(args) -> dict`` in the module that owns the thing measured. With
``--json`` the result is printed as one JSON object on the last line of stdout; ``make bench``
collects them under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import time

BENCHES = {
    "env": "common.envs.bench:run",
    "storage": "storage.bench:run",
    "learner": "learner.bench:run",
    "actors": "actors.bench:run",
}


def main(args: argparse.Namespace) -> int:
    module_name, func_name = BENCHES[args.name].split(":")
    run = getattr(importlib.import_module(module_name), func_name)
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
