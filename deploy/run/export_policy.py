"""``moto export policy RUN_OR_CHECKPOINT OUT [--force]``: a trained policy usable outside moto.

Writes the acting weights of the checkpoint behind RUN_OR_CHECKPOINT (found as ``moto eval`` finds it:
``moto_rl.deploy.run.checkpoints``) as ``OUT/policy.safetensors`` and their ``OUT/policy.json``; the
format and the loader are in ``moto_rl.common.policy_export`` (``load_policy(OUT).act(frame)``), which
needs torch, numpy and safetensors but none of Ray, Zarr or the simulators.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from moto_rl.common.config_loading import load_config_file
from moto_rl.common.errors import UserError, first_line
from moto_rl.common.policy_export import CONFIG_FILE, WEIGHTS_FILE, policy_config, save_policy
from moto_rl.common.tasks import task_spec
from moto_rl.deploy.run.checkpoints import load_policy_learner, resolve_checkpoint


def _check_out(out: Path, force: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"{out} is a file; give a folder to write {WEIGHTS_FILE} and {CONFIG_FILE} into")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise UserError(f"{out} exists and is not empty; give an empty or new folder, or --force to overwrite")


def _load_weights(source, cfg, action_dim: int):
    """(the checkpoint's ``PolicyNet`` state_dict, its step); a file that is not a checkpoint is a UserError."""
    try:
        learner, step = load_policy_learner(source, cfg, action_dim)
    except UserError:
        raise
    except Exception as e:  # torch.load of something else: a pickle error, a zip error, a missing key
        raise UserError(f"{source.file}: not a moto checkpoint ({type(e).__name__}: {first_line(e)})") from None
    return learner.policy_weights(), step


def export_policy(target: str | Path, out: str | Path, force: bool = False) -> dict:
    """Export the policy of ``target`` (a run, a `moto pretrain` output or a checkpoint) into ``out``;
    returns ``policy.json``'s content."""
    from moto_rl import __version__

    source = resolve_checkpoint(target)
    out = Path(out).expanduser()
    _check_out(out, force)
    cfg = load_config_file(source.config)
    spec = task_spec(cfg.env.task)
    weights, step = _load_weights(source, cfg, spec.action_dim)
    config = policy_config(
        cfg.model,
        spec.action_dim,
        task=cfg.env.task,
        image_size=cfg.env.image_size,
        action_repeat=cfg.env.action_repeat,
        max_episode_steps=cfg.env.max_episode_steps,
        camera=cfg.env.kitchen_camera if spec.suite == "kitchen" else cfg.env.camera,
        size=cfg.size,
        ablation=cfg.ablation,
        seed=cfg.seed,
        learner_step=step,
        checkpoint=str(source.file),
        moto_version=__version__,
    )
    save_policy(out, weights, config)
    return config


def main(args: argparse.Namespace) -> int:
    """``moto export policy SOURCE OUT``: the parser's ``store`` is SOURCE, its ``dir`` OUT (shared with npz)."""
    config = export_policy(args.store, args.dir, force=args.force)
    out = Path(args.dir)
    print(
        f"policy of {config['checkpoint']} (learner step {config['learner_step']}, task {config['task']}) -> "
        f"{out / WEIGHTS_FILE}, {out / CONFIG_FILE}\n"
        f"load it with: from moto_rl.common.policy_export import load_policy; policy = load_policy({str(out)!r})"
    )
    return 0
