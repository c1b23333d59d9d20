"""Real photos: decode ms per megapixel, training crops/s with and without the frame cache, grid TTA per 12 MP photo.

Uses the Dresden Nikon sample (../shared/data/dresden-nikon) when present, else generated 12 MP JPEGs. The
12 MP TTA photo is a Dresden photo mirror-tiled to 4000x3000 and saved with its own quantisation tables.
Region (cropped) JPEG decoding is measured only when PyTurboJPEG and libturbojpeg are installed. DCT-domain
downscaled decoding (PIL draft mode, OpenCV IMREAD_REDUCED_*) is not measured: it destroys the traces.
"""
from __future__ import annotations

import argparse
import io
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, JpegImagePlugin

from camlib import framecache
from camlib.augment import AugmentConfig
from camlib.datasets import DRESDEN_NAME, Record
from camlib.infer import TTAConfig, predict_records
from camlib.io import list_images, read_image
from camlib.models import create_model
from camlib.train import CropDataset, TrainConfig
from common import emit, log, setup

DRESDEN = Path(__file__).resolve().parents[2] / "shared" / "data" / "dresden-nikon"
TWELVE_MP = (3000, 4000)  # (height, width)


def synthetic_photo(seed: int, shape=TWELVE_MP) -> np.ndarray:
    """A smooth random scene with sensor-like noise (std 3), so its JPEG entropy is that of a photo, not a flat card."""
    rng = np.random.default_rng(seed)
    low = rng.integers(30, 220, (shape[0] // 64, shape[1] // 64, 3)).astype(np.uint8)
    scene = np.asarray(Image.fromarray(low).resize(shape[::-1], Image.BICUBIC), dtype=np.float32)
    return np.clip(scene + rng.normal(0, 3, scene.shape).astype(np.float32), 0, 255).astype(np.uint8)


def mirror_tile(image: np.ndarray, shape=TWELVE_MP) -> np.ndarray:
    """`image` padded by mirroring (and cut) to `shape`: a real photo's noise and texture at another size."""
    pad = ((0, max(0, shape[0] - image.shape[0])), (0, max(0, shape[1] - image.shape[1])), (0, 0))
    return np.ascontiguousarray(np.pad(image, pad, mode="symmetric")[:shape[0], :shape[1]])


def photo_set(data: Path, tmp: Path) -> tuple[list[Record], Path]:
    """(records of the photos to decode and train from, a 12 MP JPEG for TTA)."""
    paths = [p for p in list_images(data) if DRESDEN_NAME.match(p.stem)] if data.is_dir() else []
    twelve = tmp / "twelve_mp.jpg"
    if paths:
        log(f"{len(paths)} Dresden photos in {data}")
        source = next((p for p in paths if "natural" in p.parts and "D70s" in p.name), paths[0])
        with Image.open(source) as original:  # the camera's own tables and chroma subsampling
            tables, sampling = original.quantization, JpegImagePlugin.get_sampling(original)
        Image.fromarray(mirror_tile(read_image(source))).save(twelve, qtables=tables, subsampling=sampling)
        return [Record(str(p), DRESDEN_NAME.match(p.stem)["model"]) for p in paths], twelve
    log(f"no Dresden sample at {data}: generated 12 MP JPEGs (quality 92) instead")
    records = []
    for seed in range(3):
        path = tmp / f"generated_{seed}.jpg"
        Image.fromarray(synthetic_photo(seed)).save(path, quality=92)
        records.append(Record(str(path), f"gen{seed}"))
    return records, Path(records[0].path)


def spread(items: list, count: int) -> list:
    """`count` items evenly spread over the list (repeating it when it is shorter)."""
    return [items[i * len(items) // count] if count <= len(items) else items[i % len(items)] for i in range(count)]


def decode_figures(records: list[Record], count: int) -> None:
    chosen = spread(records, count)
    read_image(chosen[0].path)  # warm-up: page cache, decoder set-up
    total_ms, pil_ms, megapixels = 0.0, 0.0, 0.0
    for record in chosen:
        data = Path(record.path).read_bytes()
        start = time.perf_counter()
        image = read_image(record.path)
        total_ms += 1000 * (time.perf_counter() - start)
        start = time.perf_counter()  # the bare decode, without camlib's checks, for comparison
        with Image.open(io.BytesIO(data)) as bare:
            np.asarray(bare.convert("RGB"))
        pil_ms += 1000 * (time.perf_counter() - start)
        megapixels += image.shape[0] * image.shape[1] / 1e6
    log(f"decoded {len(chosen)} photos, {megapixels:.0f} MP in all")
    emit("decode_ms_per_megapixel", total_ms / megapixels, "ms/MP")
    emit("decode_ms_per_megapixel_bare_pil", pil_ms / megapixels, "ms/MP")


def crops_per_second(dataset: CropDataset) -> float:
    crops = 0
    start = time.perf_counter()
    for index in range(len(dataset)):
        images, _, error = dataset[index]
        if error:
            raise RuntimeError(error)
        crops += len(images)
    return crops / (time.perf_counter() - start)


def crop_figures(records: list[Record], items: int, crops_per_image: int) -> None:
    chosen = spread(records, items)
    classes = sorted({r.camera for r in chosen})
    augment = AugmentConfig(crop=64)

    def dataset(cache_gib: float) -> CropDataset:
        config = TrainConfig(crops_per_image=crops_per_image, batch_size=8 * crops_per_image,
                             frame_cache_gib=cache_gib, augment=augment)
        return CropDataset(chosen, classes, config)

    framecache.clear()
    uncached = crops_per_second(dataset(0.0))
    cached_set = dataset(8.0)
    crops_per_second(cached_set)  # fills the cache (this is the uncached first epoch)
    cached_set.epoch = 1
    cached = crops_per_second(cached_set)
    info = framecache.cache_info()
    framecache.clear()
    log(f"{len(chosen)} full-resolution frames x {crops_per_image} crops of 64 px; cache held "
        f"{info['frames']} frames, {info['bytes'] / 2 ** 30:.2f} GiB")
    emit("crops_per_s_uncached", uncached, "crops/s")
    emit("crops_per_s_cached", cached, "crops/s")
    emit("frame_cache_speedup", cached / uncached, "x")


def tta_figures(photo: Path, repeats: int) -> None:
    tta = TTAConfig(crop=64, crops="grid", grid_size=8, transforms="none")
    classes = ["a", "b", "c"]
    model = create_model("efficientnet_lite0", len(classes), weights="imagenet", classes=classes).eval()
    record = Record(str(photo), "a")
    predict_records(model, [record], classes, tta, progress=False)  # warm-up
    seconds, decode = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        table = predict_records(model, [record], classes, tta, progress=False)
        seconds.append(time.perf_counter() - start)
        start = time.perf_counter()
        read_image(photo)
        decode.append(time.perf_counter() - start)
    if table.error[0]:
        raise RuntimeError(f"{photo}: {table.error[0]}")
    height, width = read_image(photo).shape[:2]
    log(f"grid TTA {tta.grid_size}x{tta.grid_size} views of {tta.crop} px on a {width}x{height} photo: "
        f"{np.mean(seconds):.2f} s, of which decoding ~{np.mean(decode):.2f} s")
    emit("tta_seconds_per_12mp_photo", float(np.mean(seconds)) * 12e6 / (height * width), "s")


def region_decode_figures(photo: Path, side: int = 512) -> None:
    """Lossless region decode: PyTurboJPEG's crop (the JPEG cut on block edges, coefficients kept) then decode.
    Written against PyTurboJPEG's documented API; not run here, where libturbojpeg is not installed."""
    try:
        from turbojpeg import TJPF_RGB, TurboJPEG
        jpeg = TurboJPEG()
    except (ImportError, OSError, RuntimeError) as exc:
        log(f"region JPEG decoding unavailable, not measured: {' '.join(str(exc).split()) or type(exc).__name__}")
        return
    try:
        data = photo.read_bytes()
        width, height, *_ = jpeg.decode_header(data)
        left, top = (width - side) // 2 // 16 * 16, (height - side) // 2 // 16 * 16  # on an MCU edge
        start = time.perf_counter()
        region = jpeg.decode(jpeg.crop(data, left, top, side, side), pixel_format=TJPF_RGB)
        region_ms = 1000 * (time.perf_counter() - start)
        start = time.perf_counter()
        full = read_image(photo)
        full_ms = 1000 * (time.perf_counter() - start)
    except Exception as exc:  # an optional measurement must not cost the other figures
        log(f"region JPEG decoding failed, not measured: {' '.join(str(exc).split())}")
        return
    # chroma upsampling reads across the cut, so only the interior must match the full decode exactly
    inner = (slice(16, side - 16), slice(16, side - 16))
    if region.shape[:2] != (side, side) or not np.array_equal(region[inner], full[top:top + side, left:left + side][inner]):
        log("region decode differs from the full decode inside the region: not reported")
        return
    emit(f"region_decode_ms_per_{side}px_crop", region_ms, "ms")
    emit("region_decode_speedup", full_ms / region_ms, "x")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DRESDEN, help="Dresden-named photos (default: %(default)s)")
    parser.add_argument("--decode-photos", type=int, default=12, help="photos decoded for decode_ms_per_megapixel")
    parser.add_argument("--items", type=int, default=24, help="training items (full-resolution frames) per pass")
    parser.add_argument("--crops-per-image", type=int, default=4, help="crops taken from each decoded frame")
    parser.add_argument("--tta-repeats", type=int, default=2, help="timed TTA passes over the 12 MP photo")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: every core)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    setup(args.seed, args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        records, twelve = photo_set(args.data, Path(tmp))
        decode_figures(records, args.decode_photos)
        crop_figures(records, args.items, args.crops_per_image)
        tta_figures(twelve, args.tta_repeats)
        region_decode_figures(twelve)


if __name__ == "__main__":
    main()
