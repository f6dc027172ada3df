"""Handlers of ``moto import`` and ``moto export`` (parsers: deploy/cli.py); ``moto datasets build`` is
``moto_rl.deploy.dataset_builders.cli.build`` (its builders run the scripted experts)."""

from __future__ import annotations

import argparse

from moto_rl.common.errors import UserError

IMPORTERS = ("minari", "d4rl-kitchen", "minari-kitchen", "npz", "d4rl-images")


def import_(args: argparse.Namespace) -> int:
    from moto_rl.storage.datasets import d4rl_images, d4rl_kitchen, minari_kitchen, npz

    if args.format in ("d4rl-kitchen", "minari", "minari-kitchen") and not args.task:
        raise UserError(
            f"`moto import {args.format}` needs --task kitchen/mixed or kitchen/partial (rewards are recomputed for it)"
        )
    if not args.task:
        raise UserError(f"`moto import {args.format}` needs --task, e.g. --task metaworld/drawer-open")
    run = {
        "d4rl-kitchen": d4rl_kitchen.import_d4rl_kitchen,
        "minari": minari_kitchen.import_minari_kitchen,
        "minari-kitchen": minari_kitchen.import_minari_kitchen,
        "npz": npz.import_npz,
        "d4rl-images": d4rl_images.import_d4rl_images,
    }[args.format]
    report = run(args.path, args.task, args.store)
    print(report.summary() + f" -> {args.store}")
    return 0


def export(args: argparse.Namespace) -> int:
    from moto_rl.storage.datasets.npz import export_npz

    paths = export_npz(args.store, args.dir)
    print(f"{len(paths)} episodes in {args.dir}")
    return 0
