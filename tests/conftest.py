"""Shared test fixtures: the read-only real sample data next to the repository, when present."""
from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (dresden-nikon/, exif-samples/), or skip the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared sample data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def exif_samples(shared_data) -> Path:
    folder = shared_data / "exif-samples"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


@pytest.fixture(scope="session")
def dresden_nikon(shared_data) -> Path:
    folder = shared_data / "dresden-nikon"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    return folder


def make_toy_cameras(root: Path, n_train: int = 6, n_test: int = 3, size=(160, 200), seed: int = 0) -> Path:
    """A tiny Kaggle-layout dataset of 3 'cameras' that differ by smoothing, sharpening and JPEG quality."""
    import cv2
    import numpy as np
    import pandas as pd
    from PIL import Image

    rng = np.random.default_rng(seed)
    recipes = {"cam-blur": (1.2, 0.0, 95), "cam-sharp": (0.0, 1.5, 95), "cam-jpeg": (0.0, 0.0, 60)}
    rows = []
    for camera, (blur, sharpen, quality) in recipes.items():
        (root / "train" / camera).mkdir(parents=True, exist_ok=True)
        (root / "test").mkdir(parents=True, exist_ok=True)
        for index in range(n_train + n_test):
            base = cv2.resize(rng.random((size[0] // 8, size[1] // 8, 3)).astype(np.float32), size[::-1], interpolation=cv2.INTER_CUBIC)
            image = base * 200 + rng.normal(0, 6, base.shape)
            if blur:
                image = cv2.GaussianBlur(image, (0, 0), blur)
            if sharpen:
                image = image + sharpen * (image - cv2.GaussianBlur(image, (0, 0), 1.0))
            pixels = np.clip(image, 0, 255).astype(np.uint8)
            if index < n_train:
                Image.fromarray(pixels).save(root / "train" / camera / f"{index}.jpg", quality=quality)
            else:
                name = f"img_{camera}_{index}_unalt.tif"
                path = root / "test" / f"{camera}_{index}.jpg"
                Image.fromarray(pixels).save(path, quality=quality)
                with Image.open(path) as decoded:
                    decoded.save(root / "test" / name)
                path.unlink()
                rows.append((name, camera, "unalt"))
    pd.DataFrame(rows, columns=["fname", "camera", "manipulation"]).to_csv(root / "test_labels.csv", index=False)
    return root


@pytest.fixture(scope="session")
def toy_cameras(tmp_path_factory) -> Path:
    """Session-wide toy Kaggle-layout dataset (3 cameras, 6 training and 3 test images each)."""
    return make_toy_cameras(tmp_path_factory.mktemp("toy") / "data")
