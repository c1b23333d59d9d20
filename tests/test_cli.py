"""`camlib predict` and friends: one row per file, clear errors, documented exit codes."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from camlib.augment import AugmentConfig
from camlib.cli import main
from camlib.datasets import class_names, read_kaggle
from camlib.train import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def checkpoint(toy_cameras, tmp_path_factory):
    records = read_kaggle(toy_cameras)
    config = TrainConfig(epochs=1, batch_size=8, crops_per_image=4, augment=AugmentConfig(crop=32), weights="none", val_fraction=0)
    return train([r for r in records if r.split == "train"], class_names(records), config,
                 tmp_path_factory.mktemp("ckpt"), progress=False).checkpoint


def bad_corpus(folder: Path) -> dict:
    """Generated bad and odd files -> the words their error must contain ('' = must load)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    good = (rng.random((80, 90, 3)) * 255).astype(np.uint8)
    Image.fromarray(good).save(folder / "good photo é.jpg", quality=90)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("this is not an image")
    data = (folder / "good photo é.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 2])
    Image.fromarray(good[..., 0]).save(folder / "gray.png")
    Image.fromarray(good).convert("P").save(folder / "palette.png")
    Image.fromarray(good).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.zeros((40, 40, 4), np.uint8)).save(folder / "alpha.png")
    Image.fromarray(good[:10, :10]).save(folder / "tiny.png")
    return {"good photo é.jpg": "", "empty.jpg": "empty", "text.jpg": "not an image", "truncated.jpg": "trunc",
            "gray.png": "", "palette.png": "", "cmyk.jpg": "", "alpha.png": "", "tiny.png": "smaller"}


def test_predict_bad_corpus_one_row_per_file(checkpoint, tmp_path, capsys):
    expected = bad_corpus(tmp_path / "in")
    out = tmp_path / "pred.csv"
    code = main(["predict", "--checkpoint", str(checkpoint), str(tmp_path / "in"), str(tmp_path / "missing.jpg"),
                 "--out", str(out), "--quiet"])
    assert code == 0
    table = pd.read_csv(out, keep_default_na=False)
    assert len(table) == len(expected) + 1
    assert {"path", "camera", "confidence", "error"} <= set(table.columns)
    assert any(c.startswith("p_") for c in table.columns)
    for name, words in expected.items():
        row = table[table.path.str.endswith(name)].iloc[0]
        if words:
            assert words in row.error.lower() and row.camera == "", (name, row.error)
        else:
            assert row.error == "" and row.camera != "", (name, row.error)
    assert "file not found" in table[table.path.str.endswith("missing.jpg")].error.iloc[0]
    err = capsys.readouterr().err
    assert "Traceback" not in err and "empty.jpg: empty" in err


def test_predict_exit_codes(checkpoint, tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"")
    assert main(["predict", "--checkpoint", str(checkpoint), str(tmp_path / "bad.jpg"), "--out", str(tmp_path / "p.csv"), "--quiet"]) == 1
    assert main(["predict", "--checkpoint", str(tmp_path / "bad.jpg"), str(tmp_path), "--out", str(tmp_path / "p.csv")]) == 2
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    assert main(["predict", "--checkpoint", str(checkpoint), str(empty), "--out", str(tmp_path / "p.csv")]) == 1


def test_predict_exif_samples_end_to_end(checkpoint, exif_samples, tmp_path):
    out = tmp_path / "pred.csv"
    run = subprocess.run([sys.executable, "-m", "camlib", "predict", "--checkpoint", str(checkpoint), str(exif_samples),
                          "--out", str(out), "--quiet"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    table = pd.read_csv(out, keep_default_na=False)
    from camlib.io import list_images
    assert len(table) == len(list_images(exif_samples))
    failed = table[table.error != ""]
    assert (table.error == "").sum() > len(table) // 2
    for line in run.stderr.strip().splitlines()[: len(failed)]:
        assert ": " in line


def test_unknown_arch_and_layout_fail_with_one_line(tmp_path, capsys):
    assert main(["train", "--out", str(tmp_path / "r"), "--set", "arch=vgg99", "--layout", "folder", "--data-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err


def test_train_ends_with_the_test_photos_scored_as_the_report_scores_them(toy_cameras, tmp_path, capsys):
    from camlib.cli import main
    code = main(["train", "--profile", "smoke", "--layout", "kaggle", "--data-dir", str(toy_cameras),
                 "--out", str(tmp_path / "run"), "--set", "tta_crops=center"])
    out = capsys.readouterr().out
    assert code == 0
    assert "training budget: 1 epochs of" in out and "minutes per model" in out  # said before training
    test_line = next(line for line in out.splitlines() if line.startswith("test: "))
    assert "image-level accuracy on" in test_line and "TTA: center x flip" in test_line
    assert sum(line.startswith("  cam") for line in out.splitlines()) >= 3  # one line per camera
