"""Tests of the simulated camera zoo: determinism, layout, manipulations, caching, and real model differences."""
from __future__ import annotations

import hashlib
import io
import itertools
import json
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image, JpegImagePlugin

from camlib import datasets, manipulations
from camlib.io import estimate_jpeg_quality, read_image, read_info
from camlib.zoo import (DEFAULT_DIFFICULTY, DIFFICULTIES, EQUALIZE_FAMILIES, MODEL_NAMES, PROFILES, CameraModel, build_zoo,
                        camera_devices, camera_label, camera_models, camera_table, describe_difficulty, difficulty_table)
from camlib.zoo.build import CROP, crop_side, crop_window, manipulate
from camlib.zoo.writer import EXIF_MAKE

SMALL = {"train_per_model": 1, "test_frames": 8}  # 10 training frames and 8 test crops
TINY = {"n_models": 3, "train_per_model": 1, "test_frames": 4}


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def image_names(hashes: dict[str, str]) -> list[str]:
    return [name for name in hashes if name.endswith((".jpg", ".tif"))]


def image_hashes(hashes: dict[str, str]) -> set[str]:
    return {h for name, h in hashes.items() if name.endswith((".jpg", ".tif"))}


@pytest.fixture(scope="module")
def smoke_zoo(tmp_path_factory) -> Path:
    return build_zoo(tmp_path_factory.mktemp("zoo") / "smoke", "smoke", seed=0, workers=2)


def test_same_seed_same_bytes_whatever_the_workers_and_other_seed_differs(tmp_path):
    first = file_hashes(build_zoo(tmp_path / "a", "smoke", seed=3, workers=2, **SMALL))
    second = file_hashes(build_zoo(tmp_path / "b", "smoke", seed=3, workers=1, **SMALL))
    assert first == second
    other = file_hashes(build_zoo(tmp_path / "c", "smoke", seed=4, workers=2, **{**SMALL, "test_frames": 2}))
    assert not image_hashes(first) & image_hashes(other)


def test_kaggle_layout_and_label_files(smoke_zoo):
    profile = PROFILES["smoke"]
    classes = sorted(p.name for p in (smoke_zoo / "train").iterdir())
    assert classes == sorted(MODEL_NAMES)
    models = {m.name: m for m in camera_models(10, DEFAULT_DIFFICULTY, 0)}
    for name in classes:
        jpegs = sorted((smoke_zoo / "train" / name).glob("*.jpg"))
        assert len(jpegs) == profile["train_per_model"]
        info = read_info(jpegs[0])
        assert (info.make, info.model, info.error) == (EXIF_MAKE, name, None)
        assert info.jpeg_quality == models[name].jpeg_quality

    labels = pd.read_csv(smoke_zoo / "test_labels.csv")
    assert list(labels.columns) == ["fname", "camera", "manipulation"]
    assert len(labels) == profile["test_frames"] == len(list((smoke_zoo / "test").glob("*.tif")))
    manipulated = labels[labels.manipulation != "unalt"]
    assert len(manipulated) == len(labels) // 2
    counts = manipulated.manipulation.value_counts()
    assert set(counts.index) == set(manipulations.CHALLENGE_MANIPULATIONS) and counts.nunique() == 1
    assert all(("_manip" in f) == (m != "unalt") for f, m in zip(labels.fname, labels.manipulation))
    assert set(labels.camera) <= set(MODEL_NAMES)
    for fname in labels.fname:
        with Image.open(smoke_zoo / "test" / fname) as image:
            assert (image.format, image.mode, image.size) == ("TIFF", "RGB", (CROP, CROP))

    submission = pd.read_csv(smoke_zoo / "sample_submission.csv")
    assert list(submission.columns) == ["fname", "camera"]
    assert sorted(submission.fname) == sorted(labels.fname) and set(submission.camera) == {classes[0]}

    manifest = json.loads((smoke_zoo / "zoo.json").read_text())
    assert manifest["counts"]["train"] == 10 * profile["train_per_model"]
    assert [m["name"] for m in manifest["models"]] == list(MODEL_NAMES)


def test_neutral_names_sort_in_camera_order_and_labels_name_the_challenge_class():
    assert list(MODEL_NAMES) == sorted(MODEL_NAMES) == [f"Zoo-{i:02d}" for i in range(1, 11)]
    assert all(name.replace("-", "").isalnum() for name in MODEL_NAMES)  # plain folder names
    assert camera_label("Zoo-06") == "Zoo camera 6 (after Motorola Nexus 6)"
    assert camera_label("Zoo-12") == "Zoo camera 12"
    assert camera_label("Nikon_D70") == "Nikon_D70"


def test_read_kaggle_reads_the_zoo_with_labels(smoke_zoo):
    records = datasets.read_kaggle(smoke_zoo)
    train = [r for r in records if r.split == "train"]
    test = [r for r in records if r.split == "test"]
    assert len(train) == 10 * PROFILES["smoke"]["train_per_model"] and len(test) == PROFILES["smoke"]["test_frames"]
    assert all(r.camera in MODEL_NAMES for r in records)
    assert {r.manipulation for r in test} == {"unalt", *manipulations.CHALLENGE_MANIPULATIONS}
    assert datasets.class_names(records) == sorted(MODEL_NAMES)


def test_manipulations_as_in_the_challenge(smoke_zoo):
    image = read_image(next((smoke_zoo / "train" / MODEL_NAMES[0]).glob("*.jpg")))
    with Image.open(io.BytesIO(manipulations.jpeg_bytes(image, 70))) as decoded:
        assert estimate_jpeg_quality(decoded.quantization[0]) == 70
    for name, (family, factor) in manipulations.CHALLENGE_MANIPULATIONS.items():
        side = crop_side(name)
        source = image if side <= min(image.shape[:2]) else cv2.resize(image, (1100, 1100))
        crop = manipulations.center_crop(source, side)
        if family == "resize":
            assert side == int(np.ceil(CROP / factor))
            assert manipulations.resize(crop, factor).shape[0] >= CROP
        assert manipulate(crop, name).shape == (CROP, CROP, 3)

    # Test windows keep a margin around the crop and start on the 16x16 JPEG grid of the frame.
    for height, width, side in [(480, 640, 512), (480, 640, 1024), (1536, 2048, 512), (1536, 2048, 342)]:
        window, top, left = crop_window(height, width, side)
        assert window.top % 16 == 0 and window.left % 16 == 0
        assert top >= 0 and left >= 0 and top + side <= window.height and left + side <= window.width
        assert window.top + top == (height - side) // 2 and window.left + left == (width - side) // 2

    # Upsampled crops hold less fine detail than unaltered ones.
    labels = pd.read_csv(smoke_zoo / "test_labels.csv")
    def detail(fname):
        return np.abs(cv2.Laplacian(read_image(smoke_zoo / "test" / fname)[..., 1], cv2.CV_32F)).mean()

    upsampled = np.mean([detail(f) for f in labels.fname[labels.manipulation == "resize2.0"]])
    assert upsampled < 0.6 * np.mean([detail(f) for f in labels.fname[labels.manipulation == "unalt"]])


def test_cache_reused_and_missing_manifest_rebuilds(smoke_zoo, tmp_path):
    mtimes = {p: p.stat().st_mtime_ns for p in smoke_zoo.rglob("*")}
    start = time.perf_counter()
    assert build_zoo(smoke_zoo, "smoke", seed=0, workers=2) == smoke_zoo
    assert time.perf_counter() - start < 1.0
    assert {p: p.stat().st_mtime_ns for p in smoke_zoo.rglob("*")} == mtimes

    zoo = build_zoo(tmp_path / "zoo", "smoke", seed=5, workers=2, **TINY)
    hashes = file_hashes(zoo)
    (zoo / "zoo.json").unlink()  # as after an interrupted build
    old_mtime = (zoo / "test_labels.csv").stat().st_mtime_ns
    time.sleep(0.01)
    build_zoo(zoo, "smoke", seed=5, workers=2, **TINY)
    assert file_hashes(zoo) == hashes
    assert (zoo / "test_labels.csv").stat().st_mtime_ns != old_mtime
    build_zoo(zoo, "smoke", seed=5, workers=2, **{**TINY, "train_per_model": 2})  # other parameters: rebuilt
    assert len(list((zoo / "train").rglob("*.jpg"))) == 6
    assert not list(tmp_path.glob(".zoo.*")), "no staging folder left behind"


def test_refuses_to_replace_a_folder_that_is_not_a_zoo(tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"not mine to delete")
    with pytest.raises(ValueError, match="not a camlib zoo"):
        build_zoo(tmp_path / "photos", "smoke", **TINY)
    assert (tmp_path / "photos" / "holiday.jpg").exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"profile": "huge"}, "unknown zoo profile"),
    ({"difficulty": "trivial"}, "unknown difficulty"),
    ({"colour": 3}, "unknown zoo setting"),
    ({"test_frames": 7}, "must be even"),
    ({"n_models": 1}, "n_models"),
    ({"megapixels": -1.0}, "megapixels"),
    ({"workers": 0}, "workers"),
    ({"seed": -2}, "seed"),
])
def test_bad_parameters_raise_value_error(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_zoo(tmp_path / "zoo", **kwargs)


def test_camera_models_are_deterministic_and_difficulty_scales_their_differences():
    assert camera_models(10, "subtle", 0) == camera_models(10, "subtle", 0)
    assert camera_models(10, "subtle", 0) != camera_models(10, "subtle", 1)
    assert [m.name for m in camera_models(12)][-3:] == ["Zoo-10", "Zoo-11", "Zoo-12"]
    spread = {d: np.std([m.sharpen_amount for m in camera_models(10, d)]) for d in DIFFICULTIES}
    assert spread["distinct"] > spread["subtle"] > spread["very_subtle"] > 0
    subtle = camera_models(10, "subtle")
    assert len({m.cfa for m in subtle}) < len({m.cfa for m in camera_models(10, "distinct")})
    assert len({m.jpeg_quality for m in subtle}) > 1 and len({m.demosaic for m in subtle}) > 1
    for model in subtle:
        assert np.allclose(np.sum(model.ccm, axis=1), 1.0, atol=1e-5)
    with pytest.raises(ValueError):
        camera_models(1)


def residual_features(image: np.ndarray) -> np.ndarray:
    """Scene-robust traces of a pipeline in the noise residual (image - 3x3 median): energy share of each
    Bayer phase per channel, inter-channel correlations, chroma/luma residual ratios, JPEG-grid energy, level."""
    image = image[32:-32, 32:-32]
    image = image[:image.shape[0] // 16 * 16, :image.shape[1] // 16 * 16]
    residual = image.astype(np.float32) - cv2.medianBlur(image, 3).astype(np.float32)
    energy = residual ** 2
    total = energy.mean(axis=(0, 1))
    features = list(np.ravel([energy[dy::2, dx::2].mean(axis=(0, 1)) / total for dy in range(2) for dx in range(2)]))
    correlation = np.corrcoef(residual.reshape(-1, 3).T)
    features += [correlation[0, 1], correlation[1, 2], correlation[0, 2]]
    luma = residual @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    features += [(residual[..., 2] - luma).var() / luma.var(), (residual[..., 0] - luma).var() / luma.var()]
    columns, rows = (luma ** 2).mean(axis=0), (luma ** 2).mean(axis=1)
    features += [(columns[7::8].mean() + columns[::8].mean()) / 2 / columns.mean(),
                 (rows[7::8].mean() + rows[::8].mean()) / 2 / rows.mean(), np.log(luma.std())]
    return np.array(features)


def test_camera_pipelines_really_differ(smoke_zoo):
    features = {d.name: np.array([residual_features(read_image(p)) for p in sorted(d.glob("*.jpg"))])
                for d in sorted((smoke_zoo / "train").iterdir())}
    separated = 0
    for a, b in itertools.combinations(features, 2):
        spread = np.maximum(features[a].std(axis=0), features[b].std(axis=0))
        separated += bool(np.any(np.abs(features[a].mean(axis=0) - features[b].mean(axis=0)) > spread))
    assert separated >= 0.8 * 45, f"only {separated} of 45 model pairs differ by more than the within-model spread"


def test_scene_dir_photos_and_no_torch(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        coarse = rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)
        smooth = cv2.resize(coarse, (1600, 1200), interpolation=cv2.INTER_CUBIC)
        Image.fromarray(smooth).save(photos / f"photo{i}.jpg", quality=90)
    zoo = build_zoo(tmp_path / "zoo", "smoke", workers=1, scene_dir=photos, n_models=2, train_per_model=2,
                    test_frames=2)
    manifest = json.loads((zoo / "zoo.json").read_text())
    assert [name for name, _ in manifest["params"]["scene_files"]] == ["photo0.jpg", "photo1.jpg"]
    assert len(list((zoo / "train").rglob("*.jpg"))) == 4
    code = "import sys, camlib.zoo, camlib.zoo.pipeline, camlib.zoo.build; print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# The CameraModel fields each trace family covers: written out here, independently of the implementation.
FAMILY_FIELDS = {
    "jpeg": ("jpeg_quality", "jpeg_subsampling"),
    "cfa": ("cfa", "demosaic"),
    "colour": ("crosstalk", "sensor_matrix", "wb_bias", "ccm", "ccm_saturation", "ccm_hue_deg", "exposure_target",
               "tone_gamma", "tone_shoulder"),
    "noise": ("full_well", "read_noise", "raw_bits"),
    "isp": ("psf_sigma", "denoise_luma", "denoise_chroma_sigma", "sharpen_amount", "sharpen_radius"),
}


@pytest.mark.parametrize("family", sorted(FAMILY_FIELDS))
def test_equalize_makes_one_family_the_same_for_every_camera_and_keeps_the_others(family):
    assert set(FAMILY_FIELDS) == set(EQUALIZE_FAMILIES)
    base, equal = camera_models(10, "distinct", 0), camera_models(10, "distinct", 0, equalize=(family,))
    for field in FAMILY_FIELDS[family]:
        assert len({repr(getattr(m, field)) for m in base}) > 1, f"{field} already equal without equalize"
        assert len({repr(getattr(m, field)) for m in equal}) == 1, f"{field} still differs between cameras"
    for field in set(CameraModel.__dataclass_fields__) - set(FAMILY_FIELDS[family]):
        assert [getattr(m, field) for m in equal] == [getattr(m, field) for m in base], field
    pairs = [camera_devices(m, i, 0, (family,)) for i, m in enumerate(equal)]
    base_pairs = [camera_devices(m, i, 0) for i, m in enumerate(base)]
    devices = [d for pair in pairs for d in pair]
    assert [d.pattern_seed for pair in pairs for d in pair] == [d.pattern_seed for pair in base_pairs for d in pair]
    if family == "noise":  # every unit alike, except its own PRNU pattern
        assert len({(d.prnu_std, d.hot_pixels_per_mp, d.read_noise, d.full_well) for d in devices}) == 1
    else:
        assert len({d.prnu_std for d in devices}) > 1
    assert camera_models(10, "distinct", 0, equalize=()) == base
    with pytest.raises(ValueError, match="unknown trace family"):
        camera_models(10, "distinct", 0, equalize=("lens",))


def test_equalized_zoo_files_share_the_jpeg_settings_and_the_default_zoo_is_unchanged(tmp_path):
    default = build_zoo(tmp_path / "default", "smoke", seed=2, workers=1, **TINY)
    explicit = build_zoo(tmp_path / "explicit", "smoke", seed=2, workers=1, equalize=(), **TINY)
    assert file_hashes(default) == file_hashes(explicit)
    assert "equalize" not in json.loads((default / "zoo.json").read_text())["params"]
    assert len({(m.jpeg_quality, m.jpeg_subsampling) for m in camera_models(3, DEFAULT_DIFFICULTY, 2)}) > 1

    equal = build_zoo(tmp_path / "equal", "smoke", seed=2, workers=1, equalize=("jpeg",), **TINY)
    assert json.loads((equal / "zoo.json").read_text())["params"]["equalize"] == ["jpeg"]
    stored = set()
    for path in sorted((equal / "train").rglob("*.jpg")):
        with Image.open(path) as image:
            stored.add((estimate_jpeg_quality(image.quantization[0]), JpegImagePlugin.get_sampling(image)))
    assert len(stored) == 1
    # the same scenes, crops and manipulations: only the cameras whose JPEG settings changed give other images
    labels = pd.read_csv(equal / "test_labels.csv")
    assert labels.equals(pd.read_csv(default / "test_labels.csv"))
    changed = {a.name for a, b in zip(camera_models(3, DEFAULT_DIFFICULTY, 2), camera_models(3, DEFAULT_DIFFICULTY, 2, ("jpeg",)))
               if (a.jpeg_quality, a.jpeg_subsampling) != (b.jpeg_quality, b.jpeg_subsampling)}
    assert changed
    camera_of = {f"test/{f}": c for f, c in zip(labels.fname, labels.camera)}
    before, after = file_hashes(default), file_hashes(equal)
    for name in image_names(before):
        camera = camera_of.get(name) or Path(name).parent.name
        assert (before[name] != after[name]) == (camera in changed), name


def test_camera_table_lists_every_camera_with_its_parameters_and_the_difficulties_in_words():
    table = camera_table("distinct")
    assert list(table.camera) == [camera_label(name) for name in MODEL_NAMES]
    models = camera_models(10, "distinct", 0)
    assert list(table.CFA) == [m.cfa for m in models] and list(table.demosaicing) == [m.demosaic for m in models]
    assert table["JPEG (quality, subsampling)"].nunique() > 1
    assert camera_table("distinct", equalize=("jpeg",))["JPEG (quality, subsampling)"].nunique() == 1
    assert list(difficulty_table().difficulty) == list(DIFFICULTIES)
    for name, knobs in DIFFICULTIES.items():
        text = describe_difficulty(name)
        assert f"{100 * knobs.spread:.0f}%" in text and f"{knobs.jpeg_quality[0]}-{knobs.jpeg_quality[1]}" in text
