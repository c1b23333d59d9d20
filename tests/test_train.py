"""Trainer: learning, checkpoints, resume after SIGKILL, DDP on CPU, cyclic LR."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from camlib.augment import AugmentConfig
from camlib.datasets import class_names, read_kaggle
from camlib import framecache
from camlib.train import (CheckpointError, CropDataset, TrainConfig, load_checkpoint, load_model, lr_at, stratified_split,
                          train)

REPO = Path(__file__).resolve().parents[1]


def toy_records(root):
    records = read_kaggle(root)
    return [r for r in records if r.split == "train"], [r for r in records if r.split == "test"], class_names(records)


def small_config(**kw):
    base = dict(arch="efficientnet_lite0", weights="imagenet", epochs=2, batch_size=8, crops_per_image=4,
                augment=AugmentConfig(crop=48), val_fraction=0.0, seed=0)
    base.update(kw)
    return TrainConfig(**base)


def test_training_lowers_the_loss_and_writes_checkpoints(toy_cameras, tmp_path):
    train_records, test_records, classes = toy_records(toy_cameras)
    config = small_config(epochs=5, batch_size=16, lr=1e-3, schedule="constant",
                          augment=AugmentConfig(crop=64, d4=False, gamma_range=None, jpeg_range=None, scale_range=None))
    result = train(train_records, classes, config, tmp_path / "run", eval_records=test_records, progress=False)
    losses = result.history.train_loss
    assert losses.iloc[-1] < losses.iloc[0] - 0.1, list(losses)
    for name in ("last.pt", "best.pt", "final.pt", "history.csv", "steps.csv"):
        assert (tmp_path / "run" / name).exists()
    payload = load_checkpoint(tmp_path / "run" / "final.pt")
    assert payload["train_config"]["epochs"] == 5 and payload["model_config"]["classes"] == classes
    assert list(result.history.epoch) == [1, 2, 3, 4, 5] and len(result.steps) == 5 * 4
    assert {"train_loss", "val_accuracy", "test_accuracy", "images_per_s", "lr_end"} <= set(result.history.columns)


def test_finished_run_is_reused_not_retrained(toy_cameras, tmp_path):
    train_records, _, classes = toy_records(toy_cameras)
    config = small_config(epochs=1)
    train(train_records, classes, config, tmp_path / "run", progress=False)
    stamp = (tmp_path / "run" / "final.pt").stat().st_mtime_ns
    again = train(train_records, classes, config, tmp_path / "run", progress=False)
    assert again.seconds == 0.0 and (tmp_path / "run" / "final.pt").stat().st_mtime_ns == stamp
    changed = train(train_records, classes, small_config(epochs=1, lr=5e-4), tmp_path / "run", progress=False)
    assert changed.seconds > 0  # other parameters: not mistaken for the finished run


def test_same_seed_same_weights(toy_cameras, tmp_path):
    train_records, _, classes = toy_records(toy_cameras)
    config = small_config(epochs=1)
    a = train(train_records, classes, config, tmp_path / "a", progress=False).model.state_dict()
    b = train(train_records, classes, config, tmp_path / "b", progress=False).model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_frame_cache_serves_the_same_crops_and_weights(toy_cameras, tmp_path):
    train_records, _, classes = toy_records(toy_cameras)
    framecache.clear()
    cached = CropDataset(train_records, classes, small_config(frame_cache_gib=1.0))
    plain = CropDataset(train_records, classes, small_config(frame_cache_gib=0.0))
    for epoch in (0, 1):  # epoch 1 reads every frame from memory
        cached.epoch = plain.epoch = epoch
        for index in range(len(train_records)):
            assert torch.equal(cached[index][0], plain[index][0])
    info = framecache.cache_info()
    assert info["misses"] == len(train_records) and info["hits"] == len(train_records), info
    with pytest.raises(ValueError):  # frames are shared between epochs: writing into one is refused
        framecache.read_frame(train_records[0].path, 1.0)[0, 0, 0] = 0
    a = train(train_records, classes, small_config(epochs=2, frame_cache_gib=0.0), tmp_path / "a", progress=False)
    b = train(train_records, classes, small_config(epochs=2, frame_cache_gib=1.0), tmp_path / "b", progress=False)
    assert all(torch.equal(a.model.state_dict()[k], b.model.state_dict()[k]) for k in a.model.state_dict())
    tiny = framecache.read_frame(train_records[0].path, 1e-9)  # larger than the budget: served, not kept
    assert tiny.shape[2] == 3 and framecache.cache_info()["bytes"] == 0


def test_frame_cache_notices_a_changed_file(tmp_path):
    from PIL import Image
    path = tmp_path / "frame.png"
    Image.new("RGB", (40, 30), (10, 20, 30)).save(path)
    assert framecache.read_frame(path, 0.1)[0, 0].tolist() == [10, 20, 30]
    Image.new("RGB", (40, 30), (200, 20, 30)).save(path)
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10 ** 9))
    assert framecache.read_frame(path, 0.1)[0, 0].tolist() == [200, 20, 30]
    assert framecache.read_frame(path, 0.1, center_fraction=0.5).shape == (15, 20, 3)


def test_eval_every_k_epochs_and_after_the_last(toy_cameras, tmp_path):
    train_records, test_records, classes = toy_records(toy_cameras)
    result = train(train_records, classes, small_config(epochs=3, eval_every=2, val_fraction=0.2), tmp_path / "run",
                   eval_records=test_records, progress=False)
    evaluated = result.history.dropna(subset=["test_accuracy"]).epoch.tolist()
    assert evaluated == [2, 3] and result.history.val_accuracy.notna().tolist() == [False, True, True]


def test_checkpoint_refuses_foreign_files(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a camlib checkpoint"):
        load_checkpoint(tmp_path / "x.pt")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="not a camlib checkpoint"):
        load_checkpoint(tmp_path / "y.pt")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_for_other_classes_is_refused(toy_cameras, tmp_path):
    train_records, _, classes = toy_records(toy_cameras)
    result = train(train_records, classes, small_config(epochs=1), tmp_path / "run", progress=False)
    with pytest.raises(CheckpointError, match="trained for classes"):
        load_model(result.checkpoint, expected_classes=["x", "y"])


def test_cyclic_schedules():
    config = TrainConfig(lr=1e-3, lr_min=1e-5, schedule="cosine_restarts", cycle_epochs=1)
    rates = [lr_at(step, 10, config) for step in range(20)]
    assert rates[0] == pytest.approx(1e-3) and rates[10] == pytest.approx(1e-3) and min(rates) < 1e-4
    assert rates[9] == pytest.approx(1e-5) and rates[19] == pytest.approx(1e-5)  # each cycle ends annealed
    one = TrainConfig(lr=1e-3, lr_min=1e-5, schedule="one_cycle", epochs=4, warmup_fraction=0.25)
    rates = [lr_at(step, 10, one) for step in range(40)]
    assert rates[0] < rates[5] < rates[9] == pytest.approx(1e-3)  # linear warm-up over the first 10 steps
    assert rates[-1] == pytest.approx(1e-5) and all(a >= b for a, b in zip(rates[9:], rates[10:]))
    tri = TrainConfig(lr=1e-3, lr_min=0.0, schedule="triangular", cycle_epochs=1)
    assert lr_at(5, 10, tri) == pytest.approx(1e-3) and lr_at(0, 10, tri) == pytest.approx(0.0)
    with pytest.raises(ValueError):
        TrainConfig(schedule="step")
    with pytest.raises(ValueError):
        TrainConfig(batch_size=10, crops_per_image=4)


def test_stratified_split_holds_out_each_class(toy_cameras):
    train_records, _, classes = toy_records(toy_cameras)
    kept, held = stratified_split(train_records, 0.34, seed=0)
    assert len(kept) + len(held) == len(train_records)
    assert {r.camera for r in held} == set(classes)


TRAIN_SCRIPT = """
import sys
from camlib.augment import AugmentConfig
from camlib.datasets import class_names, read_kaggle
from camlib.train import TrainConfig, train
records = read_kaggle(sys.argv[1])
train_records = [r for r in records if r.split == "train"]
config = TrainConfig(epochs=int(sys.argv[3]), batch_size=4, crops_per_image=2, augment=AugmentConfig(crop=48),
                     val_fraction=0.0, weights="none", images_per_epoch=int(sys.argv[4]))
train(train_records, class_names(records), config, sys.argv[2], progress=False)
"""


def test_resume_after_sigkill_mid_epoch(toy_cameras, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-c", TRAIN_SCRIPT, str(toy_cameras), str(run), "4", "18"]
    process = subprocess.Popen(command, cwd=REPO)
    deadline = time.time() + 240
    while not (run / "last.pt").exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    time.sleep(0.3)  # into the next epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert (run / "last.pt").exists(), "the first epoch never finished"
    assert not (run / "final.pt").exists(), "the run finished before it could be killed"
    interrupted_epoch = load_checkpoint(run / "last.pt")["epoch"]
    subprocess.run(command, cwd=REPO, check=True)
    final = load_checkpoint(run / "final.pt")
    history = pd.read_csv(run / "history.csv")
    assert list(history.epoch) == [1, 2, 3, 4] and interrupted_epoch < 4
    steps = pd.read_csv(run / "steps.csv")
    assert list(steps.step) == list(range(len(steps)))  # continuous, no repeated or missing steps
    assert final["epoch"] == 4 and final["step"] == len(steps)
    assert load_model(run / "final.pt").config.classes == class_names(read_kaggle(toy_cameras))


DDP_SCRIPT = """
import os, sys, torch.distributed as dist
from camlib.augment import AugmentConfig
from camlib.datasets import class_names, read_kaggle
from camlib.train import TrainConfig, train
records = read_kaggle(sys.argv[1])
result = train([r for r in records if r.split == "train"], class_names(records),
               TrainConfig(epochs=1, batch_size=4, crops_per_image=2, augment=AugmentConfig(crop=32), weights="none", val_fraction=0.0),
               sys.argv[2], progress=False)
os.write(1, f"rank {dist.get_rank()} world {dist.get_world_size()} steps {len(result.steps)}\\n".encode())  # one write: the two ranks share stdout
"""


def test_ddp_two_cpu_processes(toy_cameras, tmp_path):
    script = tmp_path / "ddp.py"
    script.write_text(DDP_SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
                          str(script), str(toy_cameras), str(tmp_path / "run")], cwd=REPO, env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "rank 0 world 2" in out.stdout and "rank 1 world 2" in out.stdout
    # each rank sees half of the 18 training images: 9 images / 2 per step = 4 steps (drop_last)
    assert "steps 4" in out.stdout
    assert load_checkpoint(tmp_path / "run" / "final.pt")["epoch"] == 1



def _norm_stats(model) -> dict:
    return {k: v for k, v in model.state_dict().items() if "running_" in k}


def test_averaging_identical_checkpoints_gives_the_single_checkpoint_back(toy_cameras, tmp_path):
    """Batch norm re-estimated after averaging: k copies of one checkpoint predict as that checkpoint re-estimated
    the same way, although its stored running statistics (momentum 0.01, never recalibrated here) are far off."""
    import shutil
    from camlib.infer import TTAConfig, predict_records
    from camlib.train import average_checkpoints, average_into, recalibrate_batchnorm, training_crops
    train_records, test_records, classes = toy_records(toy_cameras)
    result = train(train_records, classes, small_config(epochs=1, precise_bn_batches=0), tmp_path / "run", progress=False)
    copies = [shutil.copy(result.checkpoint, tmp_path / f"copy{k}.pt") for k in range(3)]
    crops = small_config(epochs=1, precise_bn_batches=2)  # the same crops; 2 batches re-estimate the statistics
    averaged = load_model(result.checkpoint, classes)
    average_checkpoints(averaged, copies, training_crops(train_records, classes, crops))
    single = load_model(result.checkpoint, classes)
    stored = {k: v.clone() for k, v in _norm_stats(single).items()}
    recalibrate_batchnorm(single, training_crops(train_records, classes, crops), 2, 2, torch.device("cpu"), crops)
    for name, value in single.state_dict().items():
        if value.is_floating_point():
            assert torch.allclose(averaged.state_dict()[name], value, rtol=1e-4, atol=1e-5), name
    assert any(not torch.allclose(stored[k], v, rtol=1e-2) for k, v in _norm_stats(single).items())  # a real change
    tta = TTAConfig(crop=48, crops="center", transforms="none")
    a, b = (predict_records(m, test_records, classes, tta, progress=False) for m in (averaged, single))
    assert list(a.pred) == list(b.pred)
    plain = load_model(result.checkpoint, classes)  # averaging alone keeps the stored, stale statistics
    average_into(plain, copies)
    assert all(torch.allclose(stored[k], v, rtol=1e-5) for k, v in _norm_stats(plain).items())


def test_training_with_weight_averaging_re_estimates_batch_norm(toy_cameras, tmp_path):
    from camlib.train import average_into, recalibrate_batchnorm, training_crops
    train_records, _, classes = toy_records(toy_cameras)
    config = small_config(epochs=2, average_last=2, precise_bn_batches=2)
    result = train(train_records, classes, config, tmp_path / "run", progress=False)
    expected = load_model(result.checkpoint, classes)
    average_into(expected, [tmp_path / "run" / f"epoch{e}.pt" for e in (1, 2)])
    recalibrate_batchnorm(expected, training_crops(train_records, classes, config), 2, 2, torch.device("cpu"), config)
    final = load_model(result.checkpoint, classes)
    for name, value in _norm_stats(expected).items():
        if value.is_floating_point():
            assert torch.allclose(final.state_dict()[name], value, rtol=1e-4, atol=1e-5), name
