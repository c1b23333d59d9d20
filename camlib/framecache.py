"""Decoded training frames kept in memory between epochs (least recently used dropped past a byte budget)."""
from __future__ import annotations

import os

import numpy as np
from cachetools import LRUCache

from .io import read_image

_frames: LRUCache[tuple, np.ndarray] = LRUCache(maxsize=0, getsizeof=lambda frame: frame.nbytes)
_stats = {"hits": 0, "misses": 0}


def center_region(image: np.ndarray, fraction: float) -> np.ndarray:
    """The central `fraction` of each side of an HxWx3 image (a copy, so the full frame can be freed)."""
    if fraction >= 1:
        return image
    height, width = image.shape[:2]
    keep_h, keep_w = int(height * fraction), int(width * fraction)
    top, left = (height - keep_h) // 2, (width - keep_w) // 2
    return np.ascontiguousarray(image[top:top + keep_h, left:left + keep_w])


def read_frame(path, budget_gib: float = 0.0, center_fraction: float = 1.0) -> np.ndarray:
    """read_image(path) cropped to its centre, served from memory when decoded before. The pixels are
    exactly those of a fresh decode; the array is read-only. Raises ImageReadError like read_image."""
    global _frames
    budget = int(budget_gib * 2 ** 30)
    try:
        stat = os.stat(path)
    except OSError:
        budget = 0  # let read_image name the problem
    if budget <= 0:
        return center_region(read_image(path), center_fraction)
    if _frames.maxsize != budget:
        _frames = LRUCache(maxsize=budget, getsizeof=lambda frame: frame.nbytes)
    key = (os.fspath(path), stat.st_size, stat.st_mtime_ns, center_fraction)
    frame = _frames.get(key)
    if frame is not None:
        _stats["hits"] += 1
        return frame
    _stats["misses"] += 1
    frame = center_region(read_image(path), center_fraction)
    frame.setflags(write=False)  # shared between epochs: augmentations must not write into it
    if frame.nbytes <= budget:
        _frames[key] = frame
    return frame


def cache_info() -> dict:
    """Hits, misses, frames held and bytes used, in this process."""
    return {**_stats, "frames": len(_frames), "bytes": int(_frames.currsize), "budget_bytes": int(_frames.maxsize)}


def clear() -> None:
    """Drop every cached frame and zero the counters."""
    _frames.clear()
    _stats.update(hits=0, misses=0)
