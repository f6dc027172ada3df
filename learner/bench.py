"""``moto bench learner``: seconds per update (world model, behaviour, total) at equal work, and the
cost of the prior ensemble (7 members / 1 member).

Behaviour = imagination + critic and actor losses and steps. Equal work (the default) means the
peer yardstick's: 16 x 50 batch, H = 15, imagination from every one of the 800 posterior states;
``--starts N`` times N subsampled starts instead and says so in the result. Where the default update
runs in bf16 (``perf.amp_bf16`` automatic on bf16 hardware), the fp32 update is timed beside it."""

from __future__ import annotations

import argparse
import time

import torch

from moto_rl.common.batch import Batch
from moto_rl.common.config import MotoConfig
from moto_rl.common.config_loading import load_config
from moto_rl.learner.learner import LEARNER_SPEED, Learner, resolve_device
from moto_rl.learner.precision import use_bf16

ACTION_DIM = 4


def synthetic_batch(cfg: MotoConfig, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    b, t = cfg.algo.batch_size, cfg.algo.seq_len
    is_first = torch.zeros(b, t, dtype=torch.bool)
    is_first[:, 0] = True
    return Batch(
        image=torch.randint(0, 256, (b, t, 64, 64, 3), dtype=torch.uint8, generator=g),
        action=torch.rand(b, t, ACTION_DIM, generator=g) * 2 - 1,
        reward=torch.rand(b, t, generator=g),
        is_first=is_first,
        is_terminal=torch.zeros(b, t, dtype=torch.bool),
        bc_filter=torch.ones(b, t),
    )


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


class _Timer:
    """Times one Learner's train step split into model update, imagination and the rest."""

    def __init__(self, cfg: MotoConfig, device: str):
        from moto_rl.learner import imagination

        self.learner = Learner(cfg, ACTION_DIM, device=device)
        self.batch = synthetic_batch(cfg).to(self.learner.device)
        self.samples: dict[str, list[float]] = {"step": [], "model": [], "behaviour": [], "imag": [], "ac": []}
        self._imagine_s = 0.0

        def timed_imagine(*args, **kwargs):
            _sync(self.learner.device)
            start = time.perf_counter()
            out = imagination.imagine(*args, **kwargs)
            _sync(self.learner.device)
            self._imagine_s = time.perf_counter() - start
            return out

        self.learner._imagine = timed_imagine

    def once(self, record: bool = True) -> None:
        device = self.learner.device
        _sync(device)
        t0 = time.perf_counter()
        post, _ = self.learner.model_update(self.batch)
        _sync(device)
        t1 = time.perf_counter()
        self.learner.agent_update(post, self.batch)
        _sync(device)
        t2 = time.perf_counter()
        if record:
            parts = (
                ("step", t2 - t0),
                ("model", t1 - t0),
                ("behaviour", t2 - t1),
                ("imag", self._imagine_s),
                ("ac", t2 - t1 - self._imagine_s),
            )
            for key, value in parts:
                self.samples[key].append(value)

    def median(self, key: str) -> float:
        xs = sorted(self.samples[key])
        return xs[len(xs) // 2]


def time_learners(cfgs: dict[str, MotoConfig], reps: int, warmup: int = 3, device: str = "auto") -> dict[str, _Timer]:
    """Warm every learner up (first steps allocate and pick kernels), then alternate them rep by rep,
    so machine noise hits all of them alike; report medians."""
    timers = {name: _Timer(cfg, device) for name, cfg in cfgs.items()}
    for timer in timers.values():
        for _ in range(warmup):
            timer.once(record=False)
    for _ in range(reps):
        for timer in timers.values():
            timer.once()
    return timers


SWITCHES = ("amp_bf16", "channels_last", "fused_adam", "compile")


def run(args: argparse.Namespace) -> dict:
    """Seconds per update at equal work with the peer yardstick: 16 x 50 batch, H = 15, imagination from
    every posterior state (800 starts) unless ``--starts N`` subsamples them (then labelled as such)."""
    size = getattr(args, "size", "small")
    quick = getattr(args, "quick", False)
    device = getattr(args, "device", "auto")
    starts = getattr(args, "starts", 0) or 0
    threads = getattr(args, "threads", 0) or 0
    if threads:
        torch.set_num_threads(threads)
    overrides = [f"size={size}", "algo.imag_horizon=15", f"algo.agent_batch={starts}"]
    overrides += ["algo.batch_size=4", "algo.seq_len=16"] if quick else ["algo.batch_size=16", "algo.seq_len=50"]
    if threads:
        overrides.append(f"perf.torch_threads={threads}")
    reps, warmup = (3, 2) if quick else (5, 2)
    cfg = load_config(overrides)
    learners = {"seven": overrides + ["model.ensemble=7"], "one": overrides + ["model.ensemble=1"]}
    bf16 = use_bf16(cfg.perf.amp_bf16, resolve_device(device))
    if bf16:  # the default update runs in bf16 here: time the fp32 one beside it (what other machines get)
        learners["fp32"] = overrides + ["model.ensemble=7", "perf.amp_bf16=false"]
    timers = time_learners({name: load_config(o) for name, o in learners.items()}, reps, warmup, device)
    seven, one = timers["seven"], timers["one"]
    n_states = cfg.algo.batch_size * cfg.algo.seq_len
    n_starts = starts if 0 < starts < n_states else n_states
    result = {
        "size": size,
        "device": str(seven.learner.device),
        "torch_threads": torch.get_num_threads(),
        "batch": f"{cfg.algo.batch_size}x{cfg.algo.seq_len}",
        "imag_horizon": cfg.algo.imag_horizon,
        "imagination_starts": n_starts,
        "work": "equal: imagination from every posterior state"
        if n_starts == n_states
        else f"SUBSAMPLED: imagination from {n_starts} of {n_states} posterior states (not comparable with the peer)",
        # seconds per update, medians over the repetitions (the peer yardstick's wm_s / beh_s / total_s)
        "world_model_s": round(seven.median("model"), 3),
        "behaviour_s": round(seven.median("behaviour"), 3),
        "total_s": round(seven.median("step"), 3),
        "imagination_s": round(seven.median("imag"), 3),
        "actor_critic_s": round(seven.median("ac"), 3),
        LEARNER_SPEED: round(1.0 / seven.median("step"), 3),  # the one name of learner speed
        "total_s_1_member": round(one.median("step"), 3),
        "ensemble_overhead": round(seven.median("step") / one.median("step"), 3),
        "amp_bf16": seven.learner.bf16,  # perf.amp_bf16 as resolved on this device (learner/precision.py)
    }
    if bf16:
        fp32 = timers["fp32"]
        result.update(
            fp32_world_model_s=round(fp32.median("model"), 3),
            fp32_behaviour_s=round(fp32.median("behaviour"), 3),
            fp32_total_s=round(fp32.median("step"), 3),
            bf16_speedup=round(fp32.median("step") / seven.median("step"), 3),
        )
    if getattr(args, "switches", False):
        result.update(switch_speedups(overrides, reps, device, native_bf16=use_bf16(None, resolve_device(device))))
    return result


def switch_speedups(overrides: list[str], reps: int, device: str, native_bf16: bool = True) -> dict:
    """Step time with no perf switch / with each switch alone, and with all of them together.

    Three warm-up steps: torch.compile compiles on the first two (grad and no-grad entry states).
    Without native bf16 arithmetic, bf16 autocast is not timed (and "all" leaves it automatic, i.e.
    off): converted in software it is far too slow to be a choice (a 12800x1224 by 1224x400 matmul on
    a 2-core AVX2 CPU: 0.11 s in fp32, 8.1 s in bf16), and timing it would take the bench hours."""
    switches = SWITCHES if native_bf16 else tuple(name for name in SWITCHES if name != "amp_bf16")
    off = overrides + [f"perf.{name}=false" for name in SWITCHES]  # the plain path: every switch off
    variants = {"plain": off}
    variants.update({name: off + [f"perf.{name}=true"] for name in switches})
    variants["all"] = overrides + [f"perf.{name}=true" for name in switches]
    timers = time_learners({name: load_config(o) for name, o in variants.items()}, reps, warmup=3, device=device)
    plain = timers["plain"].median("step")
    result = {
        "plain_step_ms": round(1000 * plain, 1),
        "switch_step_ms": {name: round(1000 * timers[name].median("step"), 1) for name in (*switches, "all")},
        "switch_speedup": {name: round(plain / timers[name].median("step"), 3) for name in switches},
        "all_switches_speedup": round(plain / timers["all"].median("step"), 3),
    }
    if not native_bf16:
        why = "no native bf16 arithmetic on this device (software bf16 is far slower)"
        result["switch_skipped"] = {"amp_bf16": why}
    return result
