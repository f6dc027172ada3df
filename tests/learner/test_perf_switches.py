"""Every perf.* switch runs on CPU too and leaves the update's maths alone (the CUDA runs are in
test_cuda_learner.py; their speed is measured by `moto bench learner --switches`, not here)."""

import math

import pytest
import torch
from helpers.learner import ACTION_DIM, random_batch, tiny_config

from moto_rl.learner.imagination import imagine_step
from moto_rl.learner.learner import Learner

KEYS = ("model/loss", "model/image_mse", "model/reward_mse", "critic/loss", "actor/loss")


def _train(*perf: str, steps: int = 2) -> tuple[Learner, list[dict[str, float]]]:
    cfg = tiny_config(*perf)
    learner = Learner(cfg, ACTION_DIM, device="cpu")
    return learner, [learner.train_step(random_batch(cfg, seed=s)) for s in range(steps)]


@pytest.fixture(scope="module")
def baseline() -> list[dict[str, float]]:
    return _train("perf.channels_last=false", "perf.onehot_rows=false")[1]  # the plain path: every switch off


@pytest.mark.parametrize(
    "switch, rtol",
    [
        ("perf.channels_last=true", 1e-4),  # a memory layout: same numbers up to summation order
        ("perf.fused_adam=true", 1e-4),  # the same Adam in one kernel
        ("perf.onehot_rows=true", 1e-4),  # one-hot products as row sums: the same numbers up to rounding
        ("perf.amp_bf16=true", 2e-2),  # bf16 matmuls: ~3 significant digits
    ],
)
def test_switch_trains_and_matches_the_plain_update(switch, rtol, baseline, tmp_path):
    learner, metrics = _train(switch)
    for step, (mine, ref) in enumerate(zip(metrics, baseline, strict=True)):
        assert all(math.isfinite(v) for v in mine.values()), (switch, step)
        for key in KEYS:
            assert mine[key] == pytest.approx(ref[key], rel=rtol), (switch, step, key)
    learner.save(tmp_path / "c.pt")
    learner.load(tmp_path / "c.pt")


def test_bf16_autocast_really_runs_the_model_in_bf16():
    learner, _ = _train("perf.amp_bf16=true", steps=0)
    dtypes, outputs = [], []
    head = learner.world_model.reward_head
    head[0].register_forward_hook(lambda mod, inp, out: dtypes.append(out.dtype))
    head.register_forward_hook(lambda mod, inp, out: outputs.append(out.dtype))
    learner.train_step(random_batch(learner.cfg, seed=0))
    assert torch.bfloat16 in dtypes  # the hidden layers run in bf16
    assert set(outputs) == {torch.float32}  # the output layer in fp32 (test_bf16_numerics.py)
    assert all(p.dtype == torch.float32 for p in learner.world_model.parameters())  # master weights stay fp32


def test_compile_wraps_the_recurrent_cells_and_trains(monkeypatch, baseline):
    # Inductor's C++ codegen takes ~45 s on two cores and needs a compiler; "aot_eager" runs the same
    # Dynamo capture and AOT autograd (where graph breaks and guard failures show) with eager kernels.
    real_compile = torch.compile
    compiled = []

    def compile_aot_eager(fn, **kwargs):
        compiled.append(getattr(fn, "__name__", repr(fn)))
        return real_compile(fn, backend="aot_eager", **kwargs)

    monkeypatch.setattr(torch, "compile", compile_aot_eager)
    learner, metrics = _train("perf.compile=true", steps=3)
    assert {"obs_step", "imagine_step", "_decode"} <= set(compiled)
    assert learner._imagine_step is not imagine_step
    for mine, ref in zip(metrics, baseline, strict=False):
        assert all(math.isfinite(v) for v in mine.values())
        assert mine["model/loss"] == pytest.approx(ref["model/loss"], rel=1e-3)


def test_compile_on_cpu_without_a_compiler_is_a_clear_error(monkeypatch):
    from moto_rl.common.errors import UserError

    monkeypatch.setattr("moto_rl.learner.learner.shutil.which", lambda name: None)
    with pytest.raises(UserError, match=r"needs a C\+\+ compiler.*perf.compile=false"):
        Learner(tiny_config("perf.compile=true"), ACTION_DIM, device="cpu")


@pytest.mark.parametrize(
    "setting, avx512_bf16, expected",
    [("null", True, True), ("null", False, False), ("false", True, False), ("true", False, True)],
)
def test_automatic_bf16_is_on_exactly_where_the_cpu_computes_bf16(monkeypatch, setting, avx512_bf16, expected):
    """perf.amp_bf16=null (the default) follows the CPU's bf16 instructions; true / false force it."""
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    learner = Learner(tiny_config(f"perf.amp_bf16={setting}"), ACTION_DIM, device="cpu")
    assert learner.bf16 is expected
    dtypes = []
    learner.world_model.reward_head[0].register_forward_hook(lambda mod, inp, out: dtypes.append(out.dtype))
    learner.train_step(random_batch(learner.cfg, seed=0))
    assert (torch.bfloat16 in dtypes) is expected


def test_the_default_config_leaves_bf16_to_the_hardware():
    from moto_rl.common.config_loading import load_config

    assert load_config([]).perf.amp_bf16 is None


@pytest.mark.parametrize("on", [True, False])
def test_onehot_rows_switch_decides_the_first_layers_path(monkeypatch, on):
    # the match above would also hold if the switch did nothing: count the row-lookup layers it runs
    from moto_rl.learner import onehot_linear

    calls = []
    real = onehot_linear._OneHotLinear.apply
    monkeypatch.setattr(onehot_linear._OneHotLinear, "apply", lambda *a: calls.append(a[0].shape) or real(*a))
    learner, _ = _train(f"perf.onehot_rows={str(on).lower()}", steps=1)
    h = learner.cfg.algo.imag_horizon
    # per imagined step the actor and the RSSM input, the actor on the last state; then the reward head
    # on imagined states, target critics, critics, and the critics in the actor loss
    assert len(calls) == (2 * h + 1 + 4 if on else 0)
