"""Procedural linear-light RGB scenes (vectorised dead leaves) and optional user photos as scenes."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from ..io import list_images, read_image

# Dead-leaves knobs, in sensor pixels so that a window of a frame looks like part of a full frame.
LEAF_RADIUS_MIN = 10.0
LEAF_RADIUS_MAX = 320.0
LEAF_COVERAGE = 2.0  # expected number of leaves above a pixel: exp(-2) ~ 14% stays background
LABEL_STEP = 4  # leaves are painted on a grid of this pitch, then edges are refined at full resolution
SHAPES = ("disc", "ellipse", "rectangle")


def _leaf_radii(rng, count: int) -> np.ndarray:
    """Radii with density ~ r^-3 (the scale-invariant dead-leaves law) between the min and max."""
    lo, hi = LEAF_RADIUS_MIN ** -2, LEAF_RADIUS_MAX ** -2
    return (lo + rng.random(count) * (hi - lo)) ** -0.5


def _mean_leaf_area() -> float:
    lo, hi = LEAF_RADIUS_MIN, LEAF_RADIUS_MAX
    mean_r2 = 2 * math.log(hi / lo) / (lo ** -2 - hi ** -2)
    return math.pi * mean_r2 * 0.85  # ellipses and rectangles average about a disc's area


def _leaves(rng, height: int, width: int) -> dict[str, np.ndarray]:
    """Random leaf geometry; leaf 0 is the front-most (dead leaves: earlier leaves occlude later ones)."""
    pad = LEAF_RADIUS_MAX / 2
    area = (height + 2 * pad) * (width + 2 * pad)
    count = max(8, int(rng.poisson(LEAF_COVERAGE * area / _mean_leaf_area())))
    radius = _leaf_radii(rng, count)
    shape = rng.choice(len(SHAPES), size=count, p=[0.4, 0.3, 0.3])
    # The minor half-axis stays >= LABEL_STEP so that every leaf is seen by the coarse grid.
    aspect = np.where(shape == 0, 1.0, np.maximum(rng.uniform(0.35, 1.0, count), LABEL_STEP / radius))
    angle = rng.uniform(0, math.pi, count)
    leaves = {
        "cy": rng.uniform(-pad, height + pad, count), "cx": rng.uniform(-pad, width + pad, count),
        "a": radius, "b": radius * aspect, "cos": np.cos(angle), "sin": np.sin(angle), "shape": shape,
    }
    leaves.update(cos_a=leaves["cos"] / leaves["a"], sin_a=leaves["sin"] / leaves["a"],
                  cos_b=leaves["cos"] / leaves["b"], sin_b=leaves["sin"] / leaves["b"])
    for key in ("cy", "cx", "a", "b", "cos", "sin", "cos_a", "sin_a", "cos_b", "sin_b"):
        leaves[key] = leaves[key].astype(np.float32)
    return leaves


def _inside(leaves, hit, ys, xs) -> np.ndarray:
    """Whether points (ys, xs), broadcast against a trailing leaf axis, fall inside the leaves `hit`."""
    dy, dx = ys - leaves["cy"][hit], xs - leaves["cx"][hit]
    u = dx * leaves["cos_a"][hit] + dy * leaves["sin_a"][hit]
    v = dy * leaves["cos_b"][hit] - dx * leaves["sin_b"][hit]
    return np.where(leaves["shape"][hit] == 2, np.maximum(np.abs(u), np.abs(v)) <= 1.0, u * u + v * v <= 1.0)


def _paint(leaves, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """Front-most leaf (-1: none) at each point of the regular sample grid ys x xs. Vectorised over all
    (leaf, sample in the leaf's bounding box) pairs; the front leaf is the lowest index covering a sample."""
    step = float(ys[1] - ys[0])
    count = leaves["cy"].size
    reach = np.maximum(leaves["a"], leaves["b"])  # bounding half-size of any rotation

    def box(centre, origin, size):
        low = np.clip(np.ceil((centre - reach - origin) / step), 0, size).astype(np.int64)
        high = np.clip(np.floor((centre + reach - origin) / step) + 1, 0, size).astype(np.int64)
        return low, np.maximum(high - low, 0)

    top, rows = box(leaves["cy"], ys[0], ys.size)
    left, cols = box(leaves["cx"], xs[0], xs.size)
    pairs = rows * cols
    leaf = np.repeat(np.arange(count, dtype=np.int32), pairs)
    within = np.arange(leaf.size, dtype=np.int64) - np.repeat(np.cumsum(pairs) - pairs, pairs)
    width = np.repeat(cols, pairs)
    row = np.repeat(top, pairs) + within // width
    col = np.repeat(left, pairs) + within % width
    inside = _inside(leaves, leaf, ys[row], xs[col])
    labels = np.full(ys.size * xs.size, count, dtype=np.int32)
    np.minimum.at(labels, row[inside] * xs.size + col[inside], leaf[inside])
    labels[labels == count] = -1
    return labels.reshape(ys.size, xs.size)


def _label_map(leaves, height: int, width: int) -> np.ndarray:
    """Front-most leaf (-1: background) of every pixel. Leaves are painted on a coarse grid of samples;
    a pixel takes the label of the four samples around it when they agree, else it is tested exactly
    against the (two or three) leaves those samples see."""
    step, half = LABEL_STEP, LABEL_STEP // 2
    rows, cols = -(-height // step) + 1, -(-width // step) + 1  # squares between samples
    samples = lambda n: np.arange(-1, n, dtype=np.float32) * step + half  # noqa: E731
    coarse = _paint(leaves, samples(rows), samples(cols))  # (rows + 1, cols + 1)
    corners = np.stack([coarse[:-1, :-1], coarse[:-1, 1:], coarse[1:, :-1], coarse[1:, 1:]], axis=-1)
    # Square (i, j) holds the pixels whose centres lie between its corner samples: rows step*i - half ...
    labels = np.repeat(np.repeat(corners[..., 0], step, axis=0), step, axis=1)[half:half + height, half:half + width]

    square_y, square_x = np.nonzero((corners != corners[..., :1]).any(axis=-1))
    candidates = np.sort(corners[square_y, square_x], axis=1)
    candidates[:, 1:][candidates[:, 1:] == candidates[:, :-1]] = -1  # drop repeats
    candidates = -np.sort(-candidates, axis=1)  # distinct leaves first, -1 padding last
    counts = (candidates >= 0).sum(axis=1)
    offset_y, offset_x = np.divmod(np.arange(step * step), step)
    never = np.iinfo(np.int32).max
    for count in range(1, 5):
        group = counts == count
        if not group.any():
            continue
        leaf = candidates[group, :count][:, None, :]  # (squares, 1, count)
        ys = square_y[group, None] * step - half + offset_y  # (squares, step * step) pixel rows
        xs = square_x[group, None] * step - half + offset_x
        inside = _inside(leaves, leaf, (ys + 0.5).astype(np.float32)[..., None], (xs + 0.5).astype(np.float32)[..., None])
        front = np.where(inside, leaf, never).min(axis=2)  # the front leaf has the lowest index
        front[front == never] = -1
        valid = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
        labels[ys[valid], xs[valid]] = front[valid]
    return labels


def _smooth_field(rng, height: int, width: int, cells: int, sigma: float) -> np.ndarray:
    """Smooth random positive field (log-normal, random overall level) from a coarse grid, bicubic-upsampled."""
    grid_h = max(2, int(round(cells * height / max(height, width))) + 1)
    grid_w = max(2, int(round(cells * width / max(height, width))) + 1)
    coarse = (np.exp(sigma * rng.standard_normal((grid_h, grid_w))) * rng.uniform(0.5, 1.6)).astype(np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)


def _fine_texture(rng, height: int, width: int) -> np.ndarray:
    """Zero-mean band-limited noise of unit std: the fine surface texture leaves may carry."""
    noise = rng.standard_normal((height, width), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.2, borderType=cv2.BORDER_REFLECT)
    return noise / np.float32(0.23)  # std of unit white noise after a sigma-1.2 Gaussian blur


def _illuminant(rng) -> np.ndarray:
    """RGB tint of the light: from warm tungsten-like to cool shade-like, with a little green/magenta."""
    warmth = rng.uniform(-1.0, 1.0)
    tint = rng.normal(0.0, 0.04)
    rgb = np.array([1.0 + 0.28 * warmth, 1.0 + tint, 1.0 - 0.32 * warmth])
    return (rgb / rgb[1]).astype(np.float32)


def dead_leaves_scene(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A linear-light HxWx3 float32 scene: shaded, textured occluding leaves over a smooth background,
    under a smooth uneven light with a random colour, plus a few highlights brighter than 1.0 that clip."""
    leaves = _leaves(rng, height, width)
    count = leaves["cy"].size
    labels = _label_map(leaves, height, width)  # -1 (background) picks the extra last row of each table

    # Reflectances: mostly muted colours, some saturated ones, a few near-black and near-white.
    base = rng.uniform(0.02, 0.9, (count, 1)) ** 1.6 * rng.uniform(0.35, 1.0, (count, 3)) ** rng.uniform(0.3, 1.6, (count, 1))
    base = np.vstack([base, np.zeros((1, 3))]) * _illuminant(rng)
    # Linear shading across each leaf: shade = 1 + g . (p - centre), stored as offset + gy*y + gx*x.
    slope = rng.normal(0.0, 0.35, (count, 2)) / leaves["a"][:, None]
    offset = 1.0 - slope[:, 0] * leaves["cy"] - slope[:, 1] * leaves["cx"]
    # Some leaves carry stripes (coarse to near-Nyquist), some a fine random texture.
    striped = rng.random(count) < 0.2
    frequency = 2 * math.pi * rng.uniform(0.05, 0.9, count)
    stripe = np.stack([frequency * leaves["sin"], frequency * leaves["cos"], rng.uniform(0, 2 * math.pi, count),
                       rng.uniform(0.1, 0.5, count)], axis=1)
    texture = np.where(rng.random(count) < 0.5, rng.uniform(0.05, 0.35, count), 0.0)

    def per_pixel(values, background=0.0):
        return np.take(np.append(values, background).astype(np.float32), labels)

    # One intensity factor per pixel: shading ramp x (texture) x (stripes) x light; then colour.
    shade = per_pixel(offset, 1.0)
    shade += per_pixel(slope[:, 0]) * np.arange(height, dtype=np.float32)[:, None]
    shade += per_pixel(slope[:, 1]) * np.arange(width, dtype=np.float32)[None, :]
    grain = per_pixel(texture)
    grain *= _fine_texture(rng, height, width)
    grain += 1.0
    shade *= grain
    rows, cols = np.nonzero(np.append(striped, False)[labels])
    leaf = labels[rows, cols]
    wave = np.sin(stripe[leaf, 0] * rows + stripe[leaf, 1] * cols + stripe[leaf, 2])
    shade[rows, cols] *= (1.0 + stripe[leaf, 3] * wave).astype(np.float32)
    np.clip(shade, 0.05, 3.0, out=shade)
    shade *= _smooth_field(rng, height, width, cells=4, sigma=0.35)  # uneven light

    scene = np.take(base.astype(np.float32), labels, axis=0)  # np.take: 3x faster than base[labels]
    rows, cols = np.nonzero(labels < 0)
    if rows.size:  # background: a smooth two-colour gradient (sky, wall) where no leaf falls
        colours = rng.uniform(0.05, 0.8, (2, 3)) * _illuminant(rng)
        direction = rng.uniform(0, 2 * math.pi)
        ramp = (math.cos(direction) * (cols / width - 0.5) + math.sin(direction) * (rows / height - 0.5)) / 1.42 + 0.5
        scene[rows, cols] = (colours[0] + ramp[:, None] * (colours[1] - colours[0])).astype(np.float32)
    scene *= shade[..., None]
    _add_highlights(rng, scene)
    return scene


def _add_highlights(rng, scene: np.ndarray) -> None:
    """A few small specular blobs whose peak exceeds full scale, so the sensor saturates there."""
    height, width = scene.shape[:2]
    count = rng.poisson(2.0 * height * width / 1e6)
    for _ in range(count):
        sigma = rng.uniform(2.0, 12.0)
        half = int(3 * sigma) + 1
        cy, cx = int(rng.integers(0, height)), int(rng.integers(0, width))
        top, bottom, left, right = max(0, cy - half), min(height, cy + half + 1), max(0, cx - half), min(width, cx + half + 1)
        ys = np.arange(top, bottom, dtype=np.float32)[:, None] - cy
        xs = np.arange(left, right, dtype=np.float32)[None, :] - cx
        blob = np.exp(-(ys * ys + xs * xs) / np.float32(2 * sigma * sigma)) * np.float32(rng.uniform(2.0, 8.0))
        scene[top:bottom, left:right] += blob[..., None]


def srgb_to_linear(image_u8: np.ndarray) -> np.ndarray:
    """Inverse sRGB transfer of a uint8 image, to float32 linear light in 0..1."""
    x = image_u8.astype(np.float32) / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def photo_files(scene_dir) -> list[Path]:
    """The user photos of `scene_dir`, sorted (the order seeds which photo each frame uses)."""
    files = list_images(scene_dir)
    if not files:
        raise ValueError(f"scene_dir {scene_dir}: no image files found")
    return files


def photo_scene(rng: np.random.Generator, files, height: int, width: int) -> np.ndarray:
    """A random user photo as a linear scene: downscaled at least 2x with area interpolation (erasing its
    own camera's demosaicing, noise and JPEG traces), randomly cropped and flipped, then linearised."""
    photo = read_image(files[int(rng.integers(len(files)))])
    if rng.random() < 0.5:
        photo = photo[:, ::-1]
    fit = min(photo.shape[0] / height, photo.shape[1] / width)
    factor = max(2.0, fit / rng.uniform(1.0, 1.25)) if fit >= 2.0 else 2.0
    small = cv2.resize(photo, (max(1, round(photo.shape[1] / factor)), max(1, round(photo.shape[0] / factor))),
                       interpolation=cv2.INTER_AREA)
    if small.shape[0] < height or small.shape[1] < width:  # photo too small: enlarge smoothly to cover
        scale = max(height / small.shape[0], width / small.shape[1])
        small = cv2.resize(small, (math.ceil(small.shape[1] * scale), math.ceil(small.shape[0] * scale)),
                           interpolation=cv2.INTER_CUBIC)
    top = int(rng.integers(0, small.shape[0] - height + 1))
    left = int(rng.integers(0, small.shape[1] - width + 1))
    return srgb_to_linear(np.ascontiguousarray(small[top:top + height, left:left + width]))
