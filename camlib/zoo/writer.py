"""Atomic file output of the zoo: EXIF-tagged JPEGs, uncompressed TIFFs, CSV tables and the JSON manifest."""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..manipulations import jpeg_bytes

EXIF_MAKE = "camlib virtual camera"
EXIF_MAKE_TAG, EXIF_MODEL_TAG = 0x010F, 0x0110


def atomic_write_bytes(path, data: bytes) -> None:
    """Write to a temporary sibling then rename over `path`: readers never see a partial file."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def camera_jpeg(image: np.ndarray, model_name: str, quality: int, subsampling: int) -> bytes:
    """JPEG bytes as the camera stores them: its quality and chroma subsampling, EXIF Make/Model."""
    exif = Image.Exif()
    exif[EXIF_MAKE_TAG] = EXIF_MAKE
    exif[EXIF_MODEL_TAG] = model_name
    return jpeg_bytes(image, quality, subsampling, exif=exif.tobytes())


def decode(data: bytes) -> np.ndarray:
    """Decode encoded image bytes to uint8 RGB."""
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def tiff_bytes(image: np.ndarray) -> bytes:
    """Uncompressed RGB TIFF bytes (the challenge's test crops were stored this way)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="TIFF", compression=None)
    return buffer.getvalue()


def write_csv(path, header: list[str], rows) -> None:
    """A small CSV table, written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_bytes(path, buffer.getvalue().encode())


def write_json(path, payload: dict) -> None:
    """Pretty, key-sorted JSON, written atomically."""
    atomic_write_bytes(path, (json.dumps(payload, indent=2, sort_keys=True) + "\n").encode())


def read_json(path) -> dict | None:
    """The JSON object in `path`, or None when missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
