"""``moto``: the command line, the top of the dependency graph. Each command is one handler
function in the module that owns it.

The parsers are declared here; each handler imports its module inside the function (plain import
statements, visible to readers and tools), so ``moto --help`` stays fast (no torch, mujoco or Ray).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def version() -> str:
    """The installed distribution's version; from a checkout's pyproject.toml when moto-rl is not installed."""
    from moto_rl import __version__

    return __version__


OVERRIDES_HELP = "config overrides: profile=, size=, task=, ablation=, or any key=value (e.g. algo.bc_weight=0)"


# handlers: each imports the module that owns the command only when that command runs
def _collect_demos(args: argparse.Namespace) -> int:
    from moto_rl.actors.collect import main

    return int(main(args) or 0)


def _bench(args: argparse.Namespace) -> int:
    from moto_rl.deploy.bench import main

    return int(main(args) or 0)


def _config(args: argparse.Namespace) -> int:
    from moto_rl.common.config_cli import main

    return int(main(args) or 0)


def _envs_list(args: argparse.Namespace) -> int:
    from moto_rl.common.envs.cli import list_tasks

    return int(list_tasks(args) or 0)


def _envs_show(args: argparse.Namespace) -> int:
    from moto_rl.common.envs.cli import show

    return int(show(args) or 0)


def _campaign(args: argparse.Namespace) -> int:
    from moto_rl.deploy.campaign.runner import main

    return int(main(args) or 0)


def _diagnose(args: argparse.Namespace) -> int:
    from moto_rl.deploy.run.diagnose import main

    return int(main(args) or 0)


def _report(args: argparse.Namespace) -> int:
    from moto_rl.deploy.campaign.report import main

    return int(main(args) or 0)


def _scale(args: argparse.Namespace) -> int:
    from moto_rl.deploy.run.scale import main

    return int(main(args) or 0)


def _train(args: argparse.Namespace) -> int:
    from moto_rl.deploy.run.train import main

    return int(main(args) or 0)


def _eval(args: argparse.Namespace) -> int:
    from moto_rl.deploy.run.eval import main

    return int(main(args) or 0)


def _pretrain(args: argparse.Namespace) -> int:
    from moto_rl.learner.pretrain import main

    return int(main(args) or 0)


def _store_fsck(args: argparse.Namespace) -> int:
    from moto_rl.storage.cli import fsck

    return int(fsck(args) or 0)


def _store_info(args: argparse.Namespace) -> int:
    from moto_rl.storage.cli import info

    return int(info(args) or 0)


def _store_verify(args: argparse.Namespace) -> int:
    from moto_rl.storage.cli import verify

    return int(verify(args) or 0)


def _datasets_build(args: argparse.Namespace) -> int:
    from moto_rl.deploy.dataset_builders.cli import build

    return int(build(args) or 0)


def _export(args: argparse.Namespace) -> int:
    if args.format == "policy":
        from moto_rl.deploy.run.export_policy import main

        return int(main(args) or 0)
    from moto_rl.storage.datasets.cli import export

    return int(export(args) or 0)


def _import(args: argparse.Namespace) -> int:
    from moto_rl.storage.datasets.cli import import_

    return int(import_(args) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="moto",
        description="MOTO: offline pre-training then online fine-tuning of pixel robot policies, "
        "with Ray actors and a Zarr store.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_training_commands(sub)
    _add_store_commands(sub)
    _add_data_commands(sub)
    _add_operations_commands(sub)
    return parser


def _add_training_commands(sub) -> None:
    """train, pretrain, eval, config, envs."""
    p = sub.add_parser(
        "train",
        help="run offline pre-training then online fine-tuning (the main job); init_from=PATH fine-tunes a checkpoint",
    )
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue a stopped run from its last checkpoint and its store")
    p.set_defaults(func=_train)

    p = sub.add_parser("pretrain", help="offline pre-training from a store, no actors")
    p.add_argument("store", help="store URL (local path or fsspec URL)")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.add_argument("--steps", type=int, default=None, help="gradient steps (default: schedule.offline_steps)")
    p.add_argument("--run-dir", default=None, help="where to write logs and checkpoints")
    p.set_defaults(func=_pretrain)

    p = sub.add_parser(
        "eval", help="evaluate a checkpoint or run: success rate (95%% CI), return, per-object completion, GIFs"
    )
    p.add_argument(
        "target", metavar="RUN_OR_CHECKPOINT", help="a run directory, a `moto pretrain` output, or a checkpoint"
    )
    p.add_argument("--episodes", type=int, default=20, help="episodes to play (deterministic policy)")
    p.add_argument(
        "--task", default=None, help="evaluate on another task with the same action space (default: the run's)"
    )
    p.add_argument("--gifs", type=int, default=3, help="GIFs of the first N episodes")
    p.add_argument("--out", default=None, help="output folder (default: <run>/eval/step_<N>)")
    p.add_argument("--seed", type=int, default=None, help="episode seeds (default: the run's seed)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the policy and the renderer")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=_eval)

    p = sub.add_parser("config", help="print the resolved configuration")
    p.add_argument("overrides", nargs="*", help=OVERRIDES_HELP)
    p.set_defaults(func=_config)

    p = sub.add_parser("envs", help="list the tasks, or save a frame of one")
    envs = p.add_subparsers(dest="envs_command", metavar="SUBCOMMAND")
    p.set_defaults(func=_envs_list)
    q = envs.add_parser("list", help="list the tasks")
    q.set_defaults(func=_envs_list)
    q = envs.add_parser("show", help="render one frame of a task to a PNG")
    q.add_argument("task", help="task id, e.g. metaworld/drawer-open")
    q.add_argument("--out", default="frame.png", help="PNG path")
    q.add_argument("--steps", type=int, default=0, help="random agent steps before the frame")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--default-render", action="store_true", help="the default (slow) render look")
    q.set_defaults(func=_envs_show)


def _add_store_commands(sub) -> None:
    """store info | verify | fsck."""
    p = sub.add_parser("store", help="inspect, verify and repair a trajectory store")
    store = p.add_subparsers(dest="store_command", metavar="SUBCOMMAND", required=True)
    q = store.add_parser("info", help="episodes, frames, success rate, sources, size on disk")
    q.add_argument("url")
    q.set_defaults(func=_store_info)
    q = store.add_parser("verify", help="check every checksum and length")
    q.add_argument("url")
    q.set_defaults(func=_store_verify)
    q = store.add_parser("fsck", help="remove what killed writers left behind")
    q.add_argument("url")
    q.add_argument(
        "--older-than", type=float, default=3600.0, help="seconds; only uncommitted data older than this is removed"
    )
    q.add_argument("--dry-run", action="store_true")
    q.set_defaults(func=_store_fsck)


def _add_data_commands(sub) -> None:
    """collect-demos, datasets, import, export."""
    p = sub.add_parser("collect-demos", help="record scripted-expert episodes into a store")
    p.add_argument("task", help="task id with a scripted expert, e.g. metaworld/drawer-open or kitchen/mixed")
    p.add_argument("--episodes", type=int, default=10)
    p.add_argument("--store", required=True, help="store URL")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0, help="Ray workers (0 = in this process)")
    p.set_defaults(func=_collect_demos)

    p = sub.add_parser(
        "datasets", help="build an offline dataset: metaworld10, kitchen-mixed, kitchen-partial (scripted experts)"
    )
    datasets = p.add_subparsers(dest="datasets_command", metavar="SUBCOMMAND", required=True)
    q = datasets.add_parser("build", help="build NAME into stores under --store (resumable); prints a success table")
    q.add_argument("name", choices=["metaworld10", "kitchen-mixed", "kitchen-partial"])
    q.add_argument("--store", required=True, help="root URL: one store per task at <store>/metaworld-<task>")
    q.add_argument("--episodes", type=int, default=10, help="episodes per task")
    q.add_argument("--workers", type=int, default=0, help="Ray workers (0 = in this process)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--tasks", default=None, help="comma-separated subset, e.g. drawer-open,hammer")
    q.add_argument("--table", default=None, help="table path stem (default <store>/metaworld10_demos -> .md and .csv)")
    q.set_defaults(func=_datasets_build)

    p = sub.add_parser("import", help="import a dataset file or folder into a store (resumable)")
    p.add_argument(
        "format",
        choices=["minari", "d4rl-kitchen", "npz", "d4rl-images", "minari-kitchen"],
        help="minari: a Franka Kitchen Minari dataset (minari-kitchen is the old name); see docs/datasets.md",
    )
    p.add_argument(
        "path",
        metavar="DATASET",
        help="minari: a local dataset id (e.g. D4RL/kitchen/mixed-v2) or its folder; "
        "d4rl-*: an HDF5 file; npz: a folder of .npz episodes",
    )
    p.add_argument("--store", required=True, help="store URL (created if missing)")
    p.add_argument("--task", default=None, help="task id, e.g. kitchen/mixed (kitchen rewards are recomputed for it)")
    p.set_defaults(func=_import)

    p = sub.add_parser(
        "export",
        help="export a store's episodes (npz: one Dreamer-style .npz per episode) or a trained policy "
        "(policy: safetensors + JSON, loaded with moto_rl.common.policy_export.load_policy)",
    )
    p.add_argument("format", choices=["npz", "policy"])
    p.add_argument(
        "store",
        metavar="SOURCE",
        help="npz: a store URL; policy: a run directory, a `moto pretrain` output or a checkpoint",
    )
    p.add_argument("dir", metavar="OUT", help="output folder")
    p.add_argument("--force", action="store_true", help="policy: write into OUT even if it is not empty")
    p.set_defaults(func=_export)


def _add_operations_commands(sub) -> None:
    """scale, campaign, diagnose, report, bench."""
    p = sub.add_parser("scale", help="change the number of rollout workers of a live run")
    p.add_argument("run_dir", help="the run directory of a live `moto train`")
    p.add_argument("workers", type=int, help="new number of rollout workers")
    p.set_defaults(func=_scale)

    p = sub.add_parser(
        "campaign",
        help="run a grid of runs (tasks x seeds x ablations x sizes), resumable; "
        "`moto campaign status SPEC` shows progress",
        usage="moto campaign [status] SPEC.yaml [--dir DIR] [--max-concurrent N]",
    )
    p.add_argument(
        "words", nargs="+", metavar="[status] SPEC", help="a campaign spec YAML, optionally preceded by 'status'"
    )
    p.add_argument("--dir", default=None, help="campaign directory (default: runs/campaigns/<spec name>)")
    p.add_argument("--max-concurrent", type=int, default=None, help="runs at once (default: from the spec)")
    p.set_defaults(func=_campaign)

    p = sub.add_parser("diagnose", help="why a run succeeds or not: demos, reward tracking, open loop, imitation")
    p.add_argument("run", help="a run directory (uses its latest checkpoint and its store)")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.set_defaults(func=_diagnose)

    p = sub.add_parser("report", help="plots and tables of a finished campaign (PNG + markdown)")
    p.add_argument("campaign_dir")
    p.add_argument("--out", default=None, help="output folder (default: <campaign_dir>/report)")
    p.set_defaults(func=_report)

    p = sub.add_parser("bench", help="run a benchmark; --json prints one JSON object as the last line")
    p.add_argument("name", choices=["env", "storage", "learner", "actors"])
    p.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
    p.add_argument("--size", default="small", help="learner: size preset")
    p.add_argument("--workers", type=int, default=2, help="actors: number of rollout workers")
    p.add_argument("--device", default="auto", help="learner: auto | cpu | cuda | cuda:N")
    p.add_argument("--switches", action="store_true", help="learner: also time each perf.* switch (speedup vs none)")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (for smoke tests)")
    p.add_argument(
        "--starts",
        type=int,
        default=0,
        help="learner: imagination starts (default 0 = every posterior state, equal work)",
    )
    p.add_argument("--threads", type=int, default=0, help="learner: torch threads (default 0 = torch's default)")
    p.set_defaults(func=_bench)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # argparse ends a command's ``overrides`` at its first option: key=value after options lands here
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = [*args.overrides, *extra]
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    from moto_rl.common.errors import UserError

    try:
        return args.func(args)
    except UserError as e:
        print(f"moto: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
