"""Procedural linear-light RGB scenes (vectorised dead leaves) and optional user photos as scenes."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io import list_images, read_image
from .pipeline import Window

# Dead-leaves knobs, in sensor pixels so that a window of a frame looks like part of a full frame.
LEAF_RADIUS_MIN = 10.0
LEAF_RADIUS_MAX = 320.0
LEAF_COVERAGE = 2.0  # expected number of leaves above a pixel: exp(-2) ~ 14% stays background
METERING_STEP = 8  # exposure and white balance are metered on a preview with one sample per 8x8 pixels
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


def _leaves(rng, extent: Window) -> dict[str, np.ndarray]:
    """Random leaf geometry over `extent`; leaf 0 is the front-most (earlier leaves occlude later ones)."""
    pad = LEAF_RADIUS_MAX / 2
    height, width = extent.height, extent.width
    area = (height + 2 * pad) * (width + 2 * pad)
    count = max(8, int(rng.poisson(LEAF_COVERAGE * area / _mean_leaf_area())))
    radius = _leaf_radii(rng, count)
    shape = rng.choice(len(SHAPES), size=count, p=[0.4, 0.3, 0.3])
    # The minor half-axis stays >= LABEL_STEP so that every leaf is seen by the coarse grid.
    aspect = np.where(shape == 0, 1.0, np.maximum(rng.uniform(0.35, 1.0, count), LABEL_STEP / radius))
    angle = rng.uniform(0, math.pi, count)
    leaves = {
        "cy": extent.top + rng.uniform(-pad, height + pad, count),
        "cx": extent.left + rng.uniform(-pad, width + pad, count),
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
    step = float(ys[1] - ys[0]) if ys.size > 1 else 1.0
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


def _label_map(leaves, window: Window) -> np.ndarray:
    """Front-most leaf (-1: background) of every pixel of `window`. Leaves are painted on a coarse grid of
    samples; a pixel takes the label of the four samples around it when they agree, else it is tested
    exactly against the (two or three) leaves those samples see."""
    leaves = dict(leaves, cy=leaves["cy"] - np.float32(window.top), cx=leaves["cx"] - np.float32(window.left))
    height, width = window.height, window.width
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
        centre_y, centre_x = (ys + 0.5).astype(np.float32)[..., None], (xs + 0.5).astype(np.float32)[..., None]
        inside = _inside(leaves, leaf, centre_y, centre_x)
        front = np.where(inside, leaf, never).min(axis=2)  # the front leaf has the lowest index
        front[front == never] = -1
        valid = (ys >= 0) & (ys < height) & (xs >= 0) & (xs < width)
        labels[ys[valid], xs[valid]] = front[valid]
    return labels


def _cubic_weights(coords: np.ndarray, size: int) -> np.ndarray:
    """(len(coords), size) Keys-cubic interpolation weights of grid positions `coords` (edges clamped)."""
    base = np.floor(coords).astype(np.int64)
    weights = np.zeros((coords.size, size), dtype=np.float32)
    rows = np.arange(coords.size)
    for k in range(-1, 3):
        d = np.abs(coords - base - k)
        w = np.where(d < 1, (1.5 * d - 2.5) * d * d + 1, np.where(d < 2, ((-0.5 * d + 2.5) * d - 4) * d + 2, 0.0))
        np.add.at(weights, (rows, np.clip(base + k, 0, size - 1)), w)
    return weights


def _grid_coords(pixels: np.ndarray, start: int, length: int, nodes: int) -> np.ndarray:
    """Positions of pixel centres in units of a grid whose `nodes` span [start, start + length]."""
    return np.clip((pixels + 0.5 - start) / length * (nodes - 1), 0, nodes - 1)


def _illuminant(rng) -> np.ndarray:
    """RGB tint of the light: from warm tungsten-like to cool shade-like, with a little green/magenta."""
    warmth = rng.uniform(-1.0, 1.0)
    tint = rng.normal(0.0, 0.04)
    rgb = np.array([1.0 + 0.28 * warmth, 1.0 + tint, 1.0 - 0.32 * warmth])
    return rgb / rgb[1]


@dataclass(frozen=True)
class LeafScene:
    """The random description of one dead-leaves frame, in frame pixel coordinates; any window of it can
    be rendered at full resolution, and the whole of it previewed at low resolution for metering."""

    extent: Window  # the frame (or the larger virtual sensor a test crop needs)
    leaves: dict  # geometry arrays, leaf 0 in front
    colour: np.ndarray  # (leaves + 1, 3) reflectance x illuminant; the extra last row is never read
    shading: np.ndarray  # (leaves + 1, 3) intensity = offset + slope_y * y + slope_x * x; last row: background
    texture: np.ndarray  # (leaves + 1,) amplitude of the fine random texture
    stripes: np.ndarray  # (leaves, 4) angular frequency along y and x, phase, amplitude (0: no stripes)
    background: np.ndarray  # (3, 3): colour where the ramp starts, colour where it ends, (cos, sin, 0)
    light: np.ndarray  # coarse grid of the smooth, uneven light over the extent
    highlights: np.ndarray  # (k, 4): centre y, centre x, sigma, peak (above 1: the sensor clips)


def dead_leaves(rng: np.random.Generator, extent: Window) -> LeafScene:
    """Draw a scene: shaded, textured, sometimes striped occluding leaves over a smooth two-colour
    background, under a smooth uneven light of a random colour, with a few specular highlights."""
    leaves = _leaves(rng, extent)
    count = leaves["cy"].size
    illuminant = _illuminant(rng)
    # Reflectances: mostly muted colours, some saturated ones, a few near-black and near-white.
    lightness = rng.uniform(0.02, 0.9, (count, 1)) ** 1.6
    base = lightness * rng.uniform(0.35, 1.0, (count, 3)) ** rng.uniform(0.3, 1.6, (count, 1))
    colour = np.vstack([base, np.zeros((1, 3))]) * illuminant
    # Linear shading across each leaf: 1 + g . (p - centre) = offset + g_y * y + g_x * x.
    slope = rng.normal(0.0, 0.35, (count, 2)) / leaves["a"][:, None]
    offset = 1.0 - slope[:, 0] * leaves["cy"] - slope[:, 1] * leaves["cx"]
    shading = np.vstack([np.column_stack([offset, slope]), [1.0, 0.0, 0.0]])
    texture = np.append(np.where(rng.random(count) < 0.5, rng.uniform(0.05, 0.35, count), 0.0), 0.0)
    frequency = 2 * math.pi * rng.uniform(0.05, 0.9, count)  # coarse to near-Nyquist
    amplitude = np.where(rng.random(count) < 0.2, rng.uniform(0.1, 0.5, count), 0.0)
    stripes = np.column_stack([frequency * leaves["sin"], frequency * leaves["cos"],
                               rng.uniform(0, 2 * math.pi, count), amplitude])
    direction = rng.uniform(0, 2 * math.pi)
    background = np.vstack([rng.uniform(0.05, 0.8, (2, 3)) * illuminant, [math.cos(direction), math.sin(direction), 0]])
    cells = 4
    grid = (max(2, round(cells * extent.height / max(extent.height, extent.width)) + 1),
            max(2, round(cells * extent.width / max(extent.height, extent.width)) + 1))
    light = np.exp(0.35 * rng.standard_normal(grid)) * rng.uniform(0.5, 1.6)
    spots = rng.poisson(2.0 * extent.height * extent.width / 1e6)
    highlights = np.column_stack([extent.top + rng.uniform(0, extent.height, spots),
                                  extent.left + rng.uniform(0, extent.width, spots),
                                  rng.uniform(2.0, 12.0, spots), rng.uniform(2.0, 8.0, spots)])
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return LeafScene(extent, leaves, f32(colour), f32(shading), f32(texture), f32(stripes), f32(background),
                     f32(light), highlights)


def _light(scene: LeafScene, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """The light at pixel rows ys x columns xs (frame coordinates), cubic-interpolated from its grid."""
    extent, (rows, cols) = scene.extent, scene.light.shape
    weight_y = _cubic_weights(_grid_coords(ys, extent.top, extent.height, rows), rows)
    weight_x = _cubic_weights(_grid_coords(xs, extent.left, extent.width, cols), cols)
    # Broadcast sums, not matmuls: BLAS would spin up (CPU-burning) threads in every worker.
    rows_light = (weight_y[:, :, None] * scene.light[None]).sum(axis=1)  # (len(ys), cols)
    field = np.zeros((ys.size, xs.size), dtype=np.float32)
    for k in range(cols):
        field += rows_light[:, k:k + 1] * weight_x[None, :, k]
    return field


def _background(scene: LeafScene, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    extent = scene.extent
    cos, sin = scene.background[2, 0], scene.background[2, 1]
    across = (cols + 0.5 - extent.left) / extent.width - 0.5
    down = (rows + 0.5 - extent.top) / extent.height - 0.5
    ramp = (cos * across + sin * down) / 1.42 + 0.5  # 0..1 over the extent
    return scene.background[0] + ramp[:, None].astype(np.float32) * (scene.background[1] - scene.background[0])


def render(scene: LeafScene, window: Window, rng: np.random.Generator) -> np.ndarray:
    """The linear-light HxWx3 float32 image of `window` (frame coordinates) of the scene."""
    height, width = window.height, window.width
    ys = np.arange(window.top, window.top + height, dtype=np.float32)
    xs = np.arange(window.left, window.left + width, dtype=np.float32)
    labels = _label_map(scene.leaves, window)  # -1 (background) picks the last row of the tables

    # One intensity factor per pixel (shading ramp x texture x stripes x light), then the leaf's colour.
    shading = np.take(scene.shading, labels, axis=0)
    shade = shading[..., 0] + shading[..., 1] * ys[:, None] + shading[..., 2] * xs[None, :]
    grain = np.take(scene.texture, labels)
    grain *= _fine_texture(rng, height, width)
    grain += 1.0
    shade *= grain
    rows, cols = np.nonzero(np.take(scene.stripes[:, 3] > 0, labels, mode="wrap") & (labels >= 0))
    leaf = labels[rows, cols]
    stripe = scene.stripes[leaf]
    shade[rows, cols] *= 1.0 + stripe[:, 3] * np.sin(stripe[:, 0] * ys[rows] + stripe[:, 1] * xs[cols] + stripe[:, 2])
    np.clip(shade, 0.05, 3.0, out=shade)
    shade *= _light(scene, ys, xs)

    image = np.take(scene.colour, labels, axis=0)  # np.take: 3x faster than colour[labels]
    rows, cols = np.nonzero(labels < 0)
    image[rows, cols] = _background(scene, ys[rows], xs[cols])
    image *= shade[..., None]
    _add_highlights(scene, window, image)
    return image


def preview(scene: LeafScene, step: int = METERING_STEP) -> np.ndarray:
    """A low-resolution render of the whole extent (one sample per step x step pixels, no fine texture
    or highlights): what a camera meters exposure and white balance on."""
    extent = scene.extent
    ys = np.arange(extent.top + step // 2, extent.top + extent.height, step, dtype=np.float32)
    xs = np.arange(extent.left + step // 2, extent.left + extent.width, step, dtype=np.float32)
    labels = _paint(scene.leaves, ys + 0.5, xs + 0.5)
    shading = np.take(scene.shading, labels, axis=0)
    shade = np.clip(shading[..., 0] + shading[..., 1] * ys[:, None] + shading[..., 2] * xs[None, :], 0.05, 3.0)
    image = np.take(scene.colour, labels, axis=0)
    rows, cols = np.nonzero(labels < 0)
    image[rows, cols] = _background(scene, ys[rows], xs[cols])
    return image * (shade * _light(scene, ys, xs))[..., None]


def _add_highlights(scene: LeafScene, window: Window, image: np.ndarray) -> None:
    """Add the Gaussian highlight blobs that reach into `window`."""
    for cy, cx, sigma, peak in scene.highlights:
        half = int(3 * sigma) + 1
        top, bottom = max(window.top, int(cy) - half), min(window.top + window.height, int(cy) + half + 1)
        left, right = max(window.left, int(cx) - half), min(window.left + window.width, int(cx) + half + 1)
        if top >= bottom or left >= right:
            continue
        ys = np.arange(top, bottom, dtype=np.float32)[:, None] + 0.5 - np.float32(cy)
        xs = np.arange(left, right, dtype=np.float32)[None, :] + 0.5 - np.float32(cx)
        blob = np.exp(-(ys * ys + xs * xs) / np.float32(2 * sigma * sigma)) * np.float32(peak)
        image[top - window.top:bottom - window.top, left - window.left:right - window.left] += blob[..., None]


def _fine_texture(rng, height: int, width: int) -> np.ndarray:
    """Zero-mean band-limited noise of unit std: the fine surface texture leaves may carry."""
    noise = rng.standard_normal((height, width), dtype=np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), 1.2, borderType=cv2.BORDER_REFLECT)
    return noise / np.float32(0.23)  # std of unit white noise after a sigma-1.2 Gaussian blur


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


def frame_scene(rng: np.random.Generator, extent: Window, window: Window, files=None) -> tuple[np.ndarray, np.ndarray]:
    """The linear scene of `window` of a frame covering `extent`, and a low-resolution preview of the
    whole extent for metering (so a test crop is exposed as the centre of its full frame would be)."""
    if files:
        full = photo_scene(rng, files, extent.height, extent.width)
        top, left = window.top - extent.top, window.left - extent.left
        image = np.ascontiguousarray(full[top:top + window.height, left:left + window.width])
        size = (max(1, extent.width // METERING_STEP), max(1, extent.height // METERING_STEP))
        return image, cv2.resize(full, size, interpolation=cv2.INTER_AREA)
    scene = dead_leaves(rng, extent)
    return render(scene, window, rng), preview(scene, METERING_STEP)
