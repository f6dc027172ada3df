"""`moto pretrain` against the storage package."""

from conftest import tiny_config


def test_pretrain_on_a_tmp_store_writes_checkpoint(tmp_path):
    from learner.pretrain import pretrain
    from storage import TrajectoryStore
    from storage.synthetic import episode

    store = TrajectoryStore.open(str(tmp_path / "store"), create=True)
    for seed in range(3):
        store.append(episode(steps=20, seed=seed, source="offline", success=seed == 0))
    cfg = tiny_config("logging.progress=false", "logging.log_every=1", "logging.diagnostics_every=0", "device=cpu")
    learner = pretrain(cfg, str(tmp_path / "store"), steps=3, run_dir=tmp_path / "run")
    assert learner.step == 3
    assert (tmp_path / "run" / "learner.pt").is_file()  # the one checkpoint name, as in run directories
    assert (tmp_path / "run" / "config.yaml").is_file()
    assert list((tmp_path / "run" / "tb" / "learner").iterdir())  # the service's TensorBoard layout


def test_checkpoint_file_finds_the_name_older_pretrain_runs_wrote(tmp_path):
    import pytest

    from learner.service import checkpoint_file

    with pytest.raises(FileNotFoundError, match="neither learner.pt nor checkpoint.pt"):
        checkpoint_file(tmp_path)
    (tmp_path / "checkpoint.pt").write_bytes(b"")
    assert checkpoint_file(tmp_path) == tmp_path / "checkpoint.pt"
    (tmp_path / "learner.pt").write_bytes(b"")
    assert checkpoint_file(tmp_path) == tmp_path / "learner.pt"
