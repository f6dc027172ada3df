"""``moto``: the command line. Each command is one handler function in the module that owns it.

The parsers are declared here, the work is imported only when a command runs, so ``moto --help``
stays fast (no torch, mujoco or Ray import).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

OVERRIDES_HELP = "config overrides: profile=, size=, task=, ablation=, or any key=value (e.g. algo.bc_weight=0)"


def _handler(target: str) -> Callable[[argparse.Namespace], int]:
    """Resolve 'package.module:function' lazily."""

    def call(args: argparse.Namespace) -> int:
        module_name, func_name = target.split(":")
        func = getattr(importlib.import_module(module_name), func_name)
        return int(func(args) or 0)

    return call


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moto",
        description="MOTO: offline pre-training then online fine-tuning of pixel robot policies, with Ray actors and a Zarr store.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("train", help="run offline pre-training then online fine-tuning (the main job)")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last checkpoint and its store")
    p.set_defaults(func=_handler("deploy.train:main"))

    p = sub.add_parser("pretrain", help="offline pre-training from a store, no actors")
    p.add_argument("store", help="store URL (local path or fsspec URL)")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.add_argument("--steps", type=int, default=None, help="gradient steps (default: schedule.offline_steps)")
    p.add_argument("--run-dir", default=None, help="where to write logs and checkpoints")
    p.set_defaults(func=_handler("learner.pretrain:main"))

    p = sub.add_parser("config", help="print the resolved configuration")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.set_defaults(func=_handler("common.config_cli:main"))

    p = sub.add_parser("envs", help="list the tasks, or save a frame of one")
    envs = p.add_subparsers(dest="envs_command", metavar="SUBCOMMAND")
    p.set_defaults(func=_handler("common.envs.cli:list_tasks"))
    q = envs.add_parser("list", help="list the tasks")
    q.set_defaults(func=_handler("common.envs.cli:list_tasks"))
    q = envs.add_parser("show", help="render one frame of a task to a PNG")
    q.add_argument("task", help="task id, e.g. metaworld/drawer-open")
    q.add_argument("--out", default="frame.png", help="PNG path")
    q.add_argument("--steps", type=int, default=0, help="random agent steps before the frame")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--default-render", action="store_true", help="the default (slow) render look")
    q.set_defaults(func=_handler("common.envs.cli:show"))

    p = sub.add_parser("store", help="inspect, verify and repair a trajectory store")
    store = p.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)
    q = store.add_parser("info", help="episodes, frames, success rate, sources, size on disk")
    q.add_argument("url")
    q.set_defaults(func=_handler("storage.cli:info"))
    q = store.add_parser("verify", help="check every checksum and length")
    q.add_argument("url")
    q.set_defaults(func=_handler("storage.cli:verify"))
    q = store.add_parser("fsck", help="remove what killed writers left behind")
    q.add_argument("url")
    q.add_argument("--older-than", type=float, default=3600.0, help="seconds; only uncommitted data older than this is removed")
    q.add_argument("--dry-run", action="store_true")
    q.set_defaults(func=_handler("storage.cli:fsck"))

    p = sub.add_parser("collect-demos", help="record scripted-expert episodes into a store")
    p.add_argument("task", help="MetaWorld task id, e.g. metaworld/drawer-open")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--store", required=True, help="store URL")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="Ray workers (0 = in this process)")
    p.set_defaults(func=_handler("actors.collect:main"))

    p = sub.add_parser("datasets", help="build an offline dataset: metaworld10, kitchen-mixed, kitchen-partial (scripted experts)")
    datasets = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)
    q = datasets.add_parser("build", help="build NAME into stores under --store (resumable); prints a success table")
    q.add_argument("name", choices=["metaworld10", "kitchen-mixed", "kitchen-partial"])
    q.add_argument("--store", required=True, help="root URL: one store per task at <store>/metaworld-<task>")
    q.add_argument("--episodes", type=int, default=10, help="episodes per task")
    q.add_argument("--workers", type=int, default=0, help="Ray workers (0 = in this process)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--tasks", default=None, help="comma-separated subset, e.g. drawer-open,hammer")
    q.add_argument("--table", default=None, help="table path stem (default <store>/metaworld10_demos -> .md and .csv)")
    q.set_defaults(func=_handler("storage.datasets.cli:build"))

    p = sub.add_parser("import", help="import a dataset file or folder into a store (resumable)")
    p.add_argument("format", choices=["d4rl-kitchen", "minari-kitchen", "npz", "d4rl-images"])
    p.add_argument("path", help="HDF5 file (d4rl-*), Minari dataset folder, or folder of .npz episodes")
    p.add_argument("--store", required=True, help="store URL (created if missing)")
    p.add_argument("--task", default=None, help="task id, e.g. kitchen/mixed (kitchen rewards are recomputed for it)")
    p.set_defaults(func=_handler("storage.datasets.cli:import_"))

    p = sub.add_parser("export", help="export a store's episodes (npz: one Dreamer-style .npz per episode)")
    p.add_argument("format", choices=["npz"])
    p.add_argument("store", help="store URL")
    p.add_argument("dir", help="output folder")
    p.set_defaults(func=_handler("storage.datasets.cli:export"))

    p = sub.add_parser("scale", help="change the number of rollout workers of a live run")
    p.add_argument("run_dir", help="the run directory of a live `moto train`")
    p.add_argument("workers", type=int, help="new number of rollout workers")
    p.set_defaults(func=_handler("deploy.scale:main"))

    p = sub.add_parser(
        "campaign",
        help="run a grid of runs (tasks x seeds x ablations x sizes), resumable; `moto campaign status SPEC` shows progress",
        usage="moto campaign [status] SPEC.yaml [--dir DIR] [--max-concurrent N]",
    )
    p.add_argument("words", nargs="+", metavar="[status] SPEC", help="a campaign spec YAML, optionally preceded by 'status'")
    p.add_argument("--dir", default=None, help="campaign directory (default: runs/campaigns/<spec name>)")
    p.add_argument("--max-concurrent", type=int, default=None, help="runs at once (default: from the spec)")
    p.set_defaults(func=_handler("deploy.campaign:main"))

    p = sub.add_parser("report", help="plots and tables of a finished campaign (PNG + markdown)")
    p.add_argument("campaign_dir")
    p.add_argument("--out", default=None, help="output folder (default: <campaign_dir>/report)")
    p.set_defaults(func=_handler("deploy.campaign_report:main"))

    p = sub.add_parser("bench", help="run a benchmark; --json prints one JSON object as the last line")
    p.add_argument("name", choices=["env", "storage", "learner", "actors"])
    p.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
    p.add_argument("--size", default="small", help="learner: size preset")
    p.add_argument("--workers", type=int, default=2, help="actors: number of rollout workers")
    p.add_argument("--device", default="auto", help="learner: auto | cpu | cuda | cuda:N")
    p.add_argument("--switches", action="store_true", help="learner: also time each perf.* switch (speedup vs none)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (for smoke tests)")
    p.add_argument("--starts", type=int, default=0, help="learner: imagination starts (default 0 = every posterior state, equal work)")
    p.add_argument("--threads", type=int, default=0, help="learner: torch threads (default 0 = torch's default)")
    p.set_defaults(func=_handler("common.bench:main"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from common.errors import UserError

    try:
        return args.func(args)
    except UserError as e:
        print(f"moto: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
