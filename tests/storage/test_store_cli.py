"""`moto store info|verify|fsck` through the real CLI parser."""

from moto_rl.deploy.cli import main as moto
from moto_rl.storage import TrajectoryStore, synthetic


def test_info_verify_fsck(tmp_path, capsys):
    root = tmp_path / "s"
    store = TrajectoryStore.open(root, create=True)
    store.append(synthetic.episode(steps=5, size=8, seed=0, success=True, source="offline"))
    store.append(synthetic.episode(steps=5, size=8, seed=1))
    (root / "episodes" / "0000000000000000001-deadbeef0000").mkdir()  # a leftover from 1970
    assert moto(["store", "info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "episodes     2 (offline 1, online 1)" in out and "frames       12" in out and "50.0%" in out
    assert moto(["store", "verify", str(root)]) == 0
    assert moto(["store", "fsck", str(root), "--older-than", "60", "--dry-run"]) == 0
    assert "would remove episodes/0000000000000000001-deadbeef0000" in capsys.readouterr().out
    assert (root / "episodes" / "0000000000000000001-deadbeef0000").exists()
    assert moto(["store", "fsck", str(root), "--older-than", "60"]) == 0
    assert not (root / "episodes" / "0000000000000000001-deadbeef0000").exists()
    assert len(TrajectoryStore.open(root)) == 2


def test_missing_store_is_a_user_error(tmp_path, capsys):
    assert moto(["store", "info", str(tmp_path / "nowhere")]) == 2
    assert "no store at" in capsys.readouterr().err
