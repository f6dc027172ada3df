"""``moto config``: print the resolved configuration (what ``moto train`` with the same overrides uses)."""

from __future__ import annotations

import argparse

from moto_rl.common.config_loading import load_config, to_yaml


def main(args: argparse.Namespace) -> int:
    print(to_yaml(load_config(args.overrides)), end="")
    return 0
