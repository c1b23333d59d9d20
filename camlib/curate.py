"""Curation of scraped photos: keep only trustworthy, unmanipulated camera originals, and say why not."""
from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from .io import ImageReadError, list_images, read_image, read_info

COLUMNS = ["path", "make", "model", "class", "software", "jpeg_quality", "width", "height", "decision", "reason"]

# EXIF make/model substrings of the 10 Kaggle cameras. A key mapped to None names a look-alike that
# must NOT count as the shorter key's camera: the longest matching key wins, so 'iPhone 6 Plus'
# (None) beats 'iPhone 6'. Map such a key to a class instead when the look-alike is wanted.
KAGGLE_CLASS_MAP: dict[str, str | None] = {
    "HTC One": "HTC-1-M7",
    "iPhone 4S": "iPhone-4s",
    "iPhone 6": "iPhone-6",
    "Nexus 5X": "LG-Nexus-5x",
    "XT1080": "Motorola-Droid-Maxx",
    "Nexus 6": "Motorola-Nexus-6",
    "XT1060": "Motorola-X", "XT1053": "Motorola-X", "XT1058": "Motorola-X",
    "SM-N900": "Samsung-Galaxy-Note3", "SAMSUNG-SM-N900": "Samsung-Galaxy-Note3",
    "GT-I9505": "Samsung-Galaxy-S4", "SCH-I545": "Samsung-Galaxy-S4", "SGH-I337": "Samsung-Galaxy-S4",
    "NEX-7": "Sony-NEX-7",
    # look-alikes with other sensors and pipelines
    "iPhone 6 Plus": None, "iPhone 6s": None, "iPhone 6s Plus": None,
    "Nexus 6P": None,
    "HTC One M8": None, "HTC One_M8": None, "HTC One M9": None, "HTC One_M9": None, "HTC One X": None,
    "HTC One S": None, "HTC One V": None, "HTC One mini": None, "HTC One max": None, "HTC One A9": None,
    "HTC One E8": None, "HTC One E9": None, "HTC One ME": None,
}

# Case-insensitive substrings of EXIF Software / XMP CreatorTool that mean the pixels were re-encoded
# or edited after the camera wrote them.
EDITING_SOFTWARE = (
    "photoshop", "lightroom", "gimp", "snapseed", "picasa", "instagram", "camera raw", "paint.net",
    "paint shop", "paintshop", "acdsee", "affinity", "pixelmator", "capture one", "darktable", "rawtherapee",
    "luminar", "aperture", "iphoto", "vsco", "picsart", "prisma", "fotor", "facetune", "photo gallery",
    "photoscape", "corel", "faststone", "irfanview", "xnview", "imagemagick", "graphicsmagick", "digikam",
    "shotwell", "canva", "photodirector", "polarr", "afterlight", "photoshop express", "mac os x",
)


def _normalise(text) -> str:
    return " ".join(str(text).lower().split()) if text else ""


def match_class(make, model, class_map) -> tuple[bool, str | None]:
    """(matched, class) for an EXIF make/model: an exact model key first, then the longest key found
    in the model, then the longest key found in the make. A key mapped to None matches as 'no class'."""
    model_text, make_text = _normalise(model), _normalise(make)
    keys = sorted(((_normalise(k), v) for k, v in class_map.items()), key=lambda kv: -len(kv[0]))
    for key, value in keys:
        if key and key == model_text:
            return True, value
    for text in (model_text, make_text):
        for key, value in keys:
            if key and key in text:
                return True, value
    return False, None


def _editing_tool(texts, editors) -> str | None:
    for text in texts:
        lowered = (text or "").lower()
        if any(editor in lowered for editor in editors):
            return text
    return None


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _portrait_free(width, height) -> tuple[int, int]:
    return (max(width, height), min(width, height))


def curate(paths, class_map=None, min_quality: int = 95, allowed_sizes=None, learn_sizes: bool = True,
           editing_software=EDITING_SOFTWARE, progress: bool | None = None) -> pd.DataFrame:
    """One row per photo (files or folders) with decision 'accept'/'reject' and the first failed rule:
    unreadable, unknown camera model, editing software, JPEG quality < min_quality (or not a JPEG),
    a size the camera does not produce, duplicate of an earlier file."""
    class_map = KAGGLE_CLASS_MAP if class_map is None else class_map
    editors = tuple(e.lower() for e in editing_software)
    files = list_images(paths)
    show = len(files) >= 200 if progress is None else progress
    rows, hashes = [], {}
    for path in tqdm(files, desc="curating photos", unit="file", disable=not show):
        info = read_info(path)
        row = {"path": str(path), "make": info.make, "model": info.model, "class": None, "software": info.software,
               "jpeg_quality": info.jpeg_quality, "width": info.width, "height": info.height,
               "decision": "reject", "reason": ""}
        rows.append(row)
        try:
            image = read_image(path)  # full decode: truncated or damaged data shows only here
            row["height"], row["width"] = image.shape[:2]
            del image
        except ImageReadError as exc:
            row["reason"] = exc.reason
            continue
        matched, camera = match_class(info.make, info.model, class_map)
        row["class"] = camera
        tool = _editing_tool([info.software, info.creator_tool], editors)
        if not matched or camera is None:
            row["reason"] = "unknown camera model"
        elif tool:
            row["reason"] = f"edited with {tool}"
        elif min_quality and info.jpeg_quality is None:
            row["reason"] = "not a JPEG: cannot check the camera's JPEG quality"
        elif min_quality and info.jpeg_quality is not None and info.jpeg_quality < min_quality:
            row["reason"] = f"JPEG quality {info.jpeg_quality} < {min_quality}"
        if not row["reason"]:
            hashes[row["path"]] = _file_hash(path)
    _check_sizes(rows, hashes, allowed_sizes or {}, learn_sizes)
    _check_duplicates(rows, hashes)
    for row in rows:
        row["decision"] = "reject" if row["reason"] else "accept"
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.astype({"jpeg_quality": "Int64", "width": "Int64", "height": "Int64"})


def _check_sizes(rows, hashes, allowed_sizes, learn_sizes) -> None:
    """Reject sizes the camera does not produce; learned sizes are those of >= 2 distinct files."""
    candidates = [r for r in rows if not r["reason"]]
    allowed = {cls: {_portrait_free(*size) for size in sizes} for cls, sizes in allowed_sizes.items()}
    if learn_sizes:
        distinct = {(r["class"], hashes[r["path"]]): r for r in candidates}.values()
        seen = Counter((r["class"], _portrait_free(r["width"], r["height"])) for r in distinct)
        for (cls, size), count in seen.items():
            if cls not in allowed_sizes and count >= 2:
                allowed.setdefault(cls, set()).add(size)
    for row in candidates:
        if row["class"] not in allowed_sizes and not learn_sizes:
            continue  # no size rule for this class
        if _portrait_free(row["width"], row["height"]) not in allowed.get(row["class"], set()):
            source = "given" if row["class"] in allowed_sizes else "seen at least twice"
            row["reason"] = f"size {row['width']}x{row['height']} is not a {row['class']} size ({source})"


def _check_duplicates(rows, hashes) -> None:
    first: dict[str, str] = {}
    for row in rows:
        if row["reason"]:
            continue
        digest = hashes[row["path"]]
        if digest in first:
            row["reason"] = f"duplicate of {first[digest]}"
        else:
            first[digest] = row["path"]


def curate_to_csv(paths, out_csv, **kw) -> pd.DataFrame:
    """curate() and write the table to `out_csv` atomically (temporary file, then os.replace)."""
    frame = curate(paths, **kw)
    out_csv = Path(out_csv)
    out_csv.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out_csv.name}.", suffix=".tmp", dir=out_csv.parent)
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            frame.to_csv(stream, index=False)
        os.replace(temporary, out_csv)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return frame
