"""A trained policy outside moto: the files ``moto export policy`` writes, and ``load_policy`` to act with them.

    from moto_rl.common.policy_export import load_policy

    policy = load_policy("exported/", seed=0)  # the folder `moto export policy RUN exported/` wrote
    obs, info = env.reset(seed=0)              # obs: (64, 64, 3) uint8, the frame the policy was trained on
    policy.reset()                             # at every episode start
    action = policy.act(obs)                   # (action_dim,) float32 in [-1, 1]; deterministic=False samples

The folder holds two files:

- ``policy.safetensors``: the ``PolicyNet`` state_dict (keys ``encoder.*``, ``rssm.*``, ``actor.*``),
  the weights a rollout worker acts with (docs/architecture.md, "One weight update"), float32.
- ``policy.json``: what is needed to rebuild and feed it: ``model`` (the ``ModelConfig`` fields),
  ``action_dim``, ``image_size``, ``action_repeat`` (simulator steps per action), ``task``,
  ``precision``, ``moto_version``, and where the weights came from (``checkpoint``, ``learner_step``).

Loading imports torch, numpy, safetensors, json and this package's config, networks and ``Policy``
only: no Ray, Zarr, MuJoCo, simulators or omegaconf (tests/deploy/test_export_policy.py checks it).
The policy acts exactly as ``moto eval``'s deterministic policy does: one frame at a time through the
RSSM posterior, the recurrent state kept between calls and cleared by ``reset()``. "Deterministic" is
the actor's mode; the posterior latent z_t is still sampled (as in moto's rollout workers), from the
policy's own random stream, seeded by ``load_policy(seed=)`` (or ``reset(seed=)``) and apart from
torch's global one: the same seed, frames and calls give the same actions.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from moto_rl.common.config import ModelConfig
from moto_rl.common.policy import Policy, PolicyState

WEIGHTS_FILE = "policy.safetensors"
CONFIG_FILE = "policy.json"
FORMAT = "moto-policy"
FORMAT_VERSION = 1
PRECISION = "float32"  # of the stored weights and of acting


class PolicyFormatError(ValueError):
    """A folder that is not (or not a readable version of) an exported moto policy."""


def policy_config(model_cfg: ModelConfig, action_dim: int, **fields: Any) -> dict:
    """The ``policy.json`` of a policy: format, model fields, action dim, precision, plus ``fields``
    (task, image_size, action_repeat, moto_version, checkpoint, learner_step, ...)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "action_dim": int(action_dim),
        "precision": PRECISION,
        **fields,
        "model": dataclasses.asdict(model_cfg),
    }


def save_policy(directory: str | Path, weights: dict[str, torch.Tensor], config: dict) -> None:
    """Write ``weights`` (a ``PolicyNet`` state_dict) and ``config`` (``policy_config``) into ``directory``;
    each file is written beside its final name and renamed into place."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: v.detach().to("cpu", torch.float32 if v.is_floating_point() else v.dtype).contiguous().clone()
        for k, v in weights.items()
    }
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    save_file(tensors, str(tmp), metadata={"format": FORMAT, "format_version": str(FORMAT_VERSION)})
    os.replace(tmp, directory / WEIGHTS_FILE)
    tmp = directory / (CONFIG_FILE + ".tmp")
    tmp.write_text(json.dumps(config, indent=2) + "\n")
    os.replace(tmp, directory / CONFIG_FILE)


def read_policy_config(directory: str | Path) -> dict:
    """``policy.json`` of an exported policy folder, checked to be one this moto reads."""
    path = Path(directory) / CONFIG_FILE
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        raise PolicyFormatError(f"{directory}: no {CONFIG_FILE}; give the folder `moto export policy` wrote") from None
    except json.JSONDecodeError as e:
        raise PolicyFormatError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise PolicyFormatError(f"{path}: not a {FORMAT} file (format {config.get('format')!r})")
    if config.get("format_version") != FORMAT_VERSION:
        raise PolicyFormatError(
            f"{path}: format version {config.get('format_version')}, this moto reads {FORMAT_VERSION}; "
            f"load it with moto {config.get('moto_version', '?')}, or export it again"
        )
    if config.get("precision") != PRECISION:
        raise PolicyFormatError(f"{path}: precision {config.get('precision')!r}, this moto acts in {PRECISION}")
    return config


def _model_config(config: dict, path: Path) -> ModelConfig:
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(config["model"]) - known)
    if unknown:
        raise PolicyFormatError(
            f"{path}: model fields {unknown} unknown to this moto; load it with moto {config.get('moto_version', '?')}"
        )
    return ModelConfig(**config["model"])


class ExportedPolicy:
    """One episode at a time: ``reset()`` at its start, then ``act(frame)`` per step (see the module docstring)."""

    def __init__(self, policy: Policy, config: dict, seed: int = 0):
        self.config = config
        self.action_dim = int(config["action_dim"])
        self.image_size = int(config.get("image_size", 64))
        self.action_repeat = int(config.get("action_repeat", 1))
        self.task = config.get("task")
        self.policy = policy  # moto's own CPU Policy: the networks and the step a rollout worker runs
        self.state: PolicyState = policy.initial_state(1)
        self._first = True
        self._rng_state = torch.Generator().manual_seed(int(seed)).get_state()

    def reset(self, seed: int | None = None) -> None:
        """Forget the episode so far: the next ``act`` starts from the initial recurrent state. The random
        stream goes on across episodes (as in a rollout worker) unless ``seed`` starts it again."""
        self.state = self.policy.initial_state(1)
        self._first = True
        if seed is not None:
            self._rng_state = torch.Generator().manual_seed(int(seed)).get_state()

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """``obs`` (image_size, image_size, 3) uint8 -> action (action_dim,) float32 in [-1, 1].

        Deterministic (the actor's mode, as ``moto eval``) by default; ``deterministic=False`` samples
        from the actor. Random draws come from the policy's own stream, not torch's global one."""
        obs = np.asarray(obs)
        shape = (self.image_size, self.image_size, 3)
        if obs.shape != shape or obs.dtype != np.uint8:
            raise ValueError(f"obs must be a {shape} uint8 frame, got {obs.shape} {obs.dtype}")
        first = np.array([self._first])
        with torch.random.fork_rng(devices=[]):  # torch's global CPU stream is restored on exit
            torch.set_rng_state(self._rng_state)
            actions, self.state = self.policy.act(obs[None], first, self.state, deterministic=deterministic)
            self._rng_state = torch.get_rng_state()
        self._first = False
        return np.clip(actions[0], -1.0, 1.0)  # as the rollout worker clips what it sends to the env


def load_policy(path: str | Path, seed: int = 0, threads: int | None = None) -> ExportedPolicy:
    """The policy in ``path``: a folder ``moto export policy`` wrote (or either file in it). ``seed``: of
    its random stream (``torch.manual_seed(seed)`` in a rollout worker gives the same draws).
    ``threads``: torch intra-op threads to set (default: leave torch's setting)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    directory = Path(path)
    if directory.is_file():
        directory = directory.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"{path}: no such folder; give the folder `moto export policy` wrote")
    config = read_policy_config(directory)
    model_cfg = _model_config(config, directory / CONFIG_FILE)
    try:
        weights = load_file(str(directory / WEIGHTS_FILE))
    except FileNotFoundError:
        raise PolicyFormatError(f"{directory}: no {WEIGHTS_FILE} beside {CONFIG_FILE}") from None
    except SafetensorError as e:
        raise PolicyFormatError(f"{directory / WEIGHTS_FILE}: not a readable safetensors file ({e})") from None
    policy = Policy(model_cfg, int(config["action_dim"]), threads=threads)
    policy.load_weights(weights)  # strict: a missing, unexpected or reshaped key raises
    return ExportedPolicy(policy, config, seed)
