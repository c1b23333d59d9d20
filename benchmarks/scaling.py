"""Scaling: decode+augment time vs frame megapixels, train/inference time vs crop side, and a Kaggle-size extrapolation."""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from camlib.augment import augment, training_pipeline
from camlib.io import read_image, read_info
from camlib.models import create_model
from common import cpu_data, emit, log, setup


def best_seconds(fn, repeats: int) -> float:
    """Fastest of `repeats` calls (the least disturbed by other work on the machine)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def frame_of(source: np.ndarray, megapixels: float) -> np.ndarray:
    """A 4:3 frame of `megapixels` made by mirror-tiling a real zoo frame (keeps its noise, so its JPEG entropy)."""
    width = int(round((megapixels * 1e6 * 4 / 3) ** 0.5))
    height = int(round(width * 3 / 4))
    tiled = np.pad(source, ((0, max(0, height - source.shape[0])), (0, max(0, width - source.shape[1])), (0, 0)),
                   mode="symmetric")
    return np.ascontiguousarray(tiled[:height, :width])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megapixels", type=float, nargs="+", default=[0.5, 1, 2, 4, 8])
    parser.add_argument("--sides", type=int, nargs="+", default=[64, 96, 128, 192])
    parser.add_argument("--steps", type=int, default=3, help="timed training steps / inference batches per side")
    parser.add_argument("--kaggle-train-images", type=int, default=2750)
    parser.add_argument("--kaggle-megapixels", type=float, default=12.0)
    parser.add_argument("--kaggle-test-images", type=int, default=2640)
    parser.add_argument("--kaggle-test-side", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup(args.seed)
    settings, data = cpu_data()
    config, tta = settings.train_config(), settings.tta_config()
    pipeline = training_pipeline(config.augment, seed=args.seed)

    # 1. decode + augment per image vs frame size (JPEG at the zoo camera's quality)
    source_path = data.train[0].path
    source, quality = read_image(source_path), read_info(source_path).jpeg_quality or 92
    decode_ms, augment_ms = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for mp in args.megapixels:
            path = Path(tmp) / f"frame_{mp}mp.jpg"
            Image.fromarray(frame_of(source, mp)).save(path, quality=quality)
            decode_ms.append(1000 * best_seconds(lambda: read_image(path), 3))
            image = read_image(path)
            augment_ms.append(1000 * best_seconds(lambda: [augment(pipeline, image) for _ in range(20)], 3) / 20)
            emit(f"decode_ms_at_{mp:g}mp", decode_ms[-1], "ms")
            emit(f"augment_ms_per_crop_at_{mp:g}mp", augment_ms[-1], "ms")
            log(f"{mp:g} MP: {path.stat().st_size / (mp * 1e6):.2f} bytes/pixel at JPEG quality {quality}")
    slope, intercept = np.polyfit(args.megapixels, decode_ms, 1)
    emit("decode_ms_per_megapixel", slope, "ms/MP")

    # 2. training step (batch of the cpu profile, tensors in memory) and inference per view vs crop side
    model = create_model(config.arch, len(data.classes), config.weights, classes=data.classes)
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format  # as camlib.train
    model = model.to(memory_format=memory_format)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    criterion = torch.nn.CrossEntropyLoss()
    train_ms, infer_ms = [], []
    for side in args.sides:
        log(f"crop side {side}: {args.steps} training steps of {config.batch_size}, {args.steps} batches of {tta.batch_size} views")
        images = torch.rand(config.batch_size, 3, side, side).contiguous(memory_format=memory_format)
        labels = torch.randint(0, len(data.classes), (config.batch_size,))

        def train_step():
            loss = criterion(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        model.train()
        train_step()  # warm-up
        train_ms.append(1000 * best_seconds(train_step, args.steps) / config.batch_size)
        views = torch.rand(tta.batch_size, side, side, 3).permute(0, 3, 1, 2)  # NHWC strides, as infer.to_tensor
        model.eval()
        with torch.no_grad():
            model(views)  # warm-up
            infer_ms.append(1000 * best_seconds(lambda: model(views), args.steps) / tta.batch_size)
        emit(f"train_ms_per_crop_at_{side}px", train_ms[-1], "ms")
        emit(f"infer_ms_per_view_at_{side}px", infer_ms[-1], "ms")

    # 3. extrapolation to the Kaggle data at the cpu profile's settings (workers=0: loading and compute add up)
    def decode_at(mp):
        return intercept + slope * mp

    train_images = round(args.kaggle_train_images * (1 - config.val_fraction))
    val_images = args.kaggle_train_images - train_images
    crop_train_ms = np.interp(config.augment.crop, args.sides, train_ms)
    view_ms = np.interp(tta.crop, args.sides, infer_ms)
    load_ms = decode_at(args.kaggle_megapixels) + config.crops_per_image * float(np.mean(augment_ms))
    epoch_s = (train_images * (load_ms + config.crops_per_image * crop_train_ms)
               + val_images * (decode_at(args.kaggle_megapixels) + config.eval_crops * view_ms)) / 1000
    test_mp = args.kaggle_test_side ** 2 / 1e6
    tta_s = args.kaggle_test_images * (decode_at(test_mp) + tta.views_per_image * view_ms) / 1000
    emit("kaggle_epoch_minutes_extrapolated", epoch_s / 60, "min")
    emit("kaggle_training_hours_extrapolated", config.epochs * epoch_s / 3600, "h")
    emit("kaggle_tta_minutes_extrapolated", tta_s / 60, "min")

    print("# frame MP | decode ms | augment ms/crop")
    for mp, d, a in zip(args.megapixels, decode_ms, augment_ms):
        print(f"# {mp:8g} | {d:9.1f} | {a:15.2f}")
    print("# crop px | train ms/crop | inference ms/view")
    for side, t, i in zip(args.sides, train_ms, infer_ms):
        print(f"# {side:7d} | {t:13.1f} | {i:17.2f}")
    print(f"# EXTRAPOLATION (not measured) for the Kaggle data on this CPU, cpu profile (arch {config.arch}, crop "
          f"{config.augment.crop}, {config.crops_per_image} crops/image, batch {config.batch_size}, workers 0):\n"
          f"#   one epoch = {train_images} training images of {args.kaggle_megapixels:g} MP "
          f"({load_ms:.0f} ms decode+augment + {config.crops_per_image} x {crop_train_ms:.0f} ms step each) "
          f"+ validation of {val_images} images = {epoch_s / 60:.1f} min; {config.epochs} epochs = "
          f"{config.epochs * epoch_s / 3600:.1f} h\n"
          f"#   TTA of {args.kaggle_test_images} test crops of {args.kaggle_test_side} px, "
          f"{tta.views_per_image} views of {tta.crop} px each = {tta_s / 60:.1f} min")


if __name__ == "__main__":
    main()
