"""TTA efficiency: images/s of predict_records vs the bare forward passes of the same views on in-memory tensors."""
from __future__ import annotations

import argparse
import math
import time

import torch

from camlib.infer import image_views, predict_records
from camlib.io import read_image
from camlib.models import create_model
from common import cpu_data, emit, log, setup


@torch.no_grad()
def bare_forward(model, views: torch.Tensor, batch_size: int) -> None:
    """The forward passes alone: (N, 3, h, w) views in chunks of batch_size."""
    for start in range(0, len(views), batch_size):
        model(views[start:start + batch_size])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=40, help="test images per round")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the images")
    parser.add_argument("--chunk", type=int, default=0,
                        help="images per alternation of the three measurements (default: enough for 2 full batches)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup(args.seed)

    settings, data = cpu_data()
    tta = settings.tta_config()
    records = data.test[:args.images]
    model = create_model(settings.arch, len(data.classes), settings.weights, classes=data.classes).eval()
    views = torch.cat([image_views(read_image(r.path), tta) for r in records])  # what predict_records feeds the model
    log(f"{len(records)} images x {tta.views_per_image} views ({tta.crops} x {tta.transforms}, crop {tta.crop}), "
        f"batch {tta.batch_size}, {args.rounds} rounds")
    predict_records(model, records[:2], data.classes, tta, progress=False)  # warm-up
    bare_forward(model, views[:tta.batch_size], tta.batch_size)

    # Alternate the three measurements on small chunks of images, so that a busy spell of a shared
    # machine hits all of them alike.
    seconds = {"tta": 0.0, "bare": 0.0, "bare_per_image": 0.0}
    v = tta.views_per_image
    size = args.chunk or math.ceil(2 * tta.batch_size / v)
    for _ in range(args.rounds):
        for first in range(0, len(records), size):
            chunk, chunk_views = records[first:first + size], views[first * v:(first + size) * v]
            start = time.perf_counter()
            predict_records(model, chunk, data.classes, tta, progress=False)
            seconds["tta"] += time.perf_counter() - start
            start = time.perf_counter()
            bare_forward(model, chunk_views, tta.batch_size)
            seconds["bare"] += time.perf_counter() - start
            start = time.perf_counter()  # diagnostic: the same forward passes, one image's views per call
            for i in range(len(chunk)):
                bare_forward(model, chunk_views[i * v:(i + 1) * v], tta.batch_size)
            seconds["bare_per_image"] += time.perf_counter() - start

    rate = {name: args.rounds * len(records) / s for name, s in seconds.items()}
    emit("tta_efficiency", rate["tta"] / rate["bare"], "ratio")
    emit("tta_images_per_s", rate["tta"], "images/s")
    emit("tta_bare_images_per_s", rate["bare"], "images/s")
    emit("tta_bare_per_image_batch_images_per_s", rate["bare_per_image"], "images/s")
    emit("tta_views_per_image", tta.views_per_image, "views")
    emit("tta_ms_per_view", 1000 * seconds["tta"] / (args.rounds * len(views)), "ms")


if __name__ == "__main__":
    main()
