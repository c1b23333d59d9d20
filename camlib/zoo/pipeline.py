"""The camera pipeline: linear scene -> optics -> CFA sensor with PRNU and noise -> demosaic -> ISP -> uint8 RGB."""
from __future__ import annotations

import contextlib
import functools
import math
import time
import warnings
from dataclasses import dataclass

import cv2
import numpy as np

from .cameras import CameraModel, Device

STAGES = ("scene", "optics", "cfa_demosaic", "noise_prnu", "isp", "jpeg_write")
PATTERN_TILE = 128  # PRNU and hot pixels are drawn per tile anchored at the frame origin
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # JPEG's YCbCr weights: the ISP works on that luma
DENOISE_THRESHOLD = 0.03  # luma difference (0..1, gamma domain) above which a pixel counts as an edge

_stage_seconds = dict.fromkeys(STAGES, 0.0)
_timing = {"enabled": False}


def enable_stage_timing(enabled: bool = True) -> None:
    """Turn the per-stage time accumulator on or off (off by default: it costs a clock call per stage)."""
    _timing["enabled"] = bool(enabled)


def stage_timing_enabled() -> bool:
    """Whether stage times are being accumulated."""
    return _timing["enabled"]


def stage_seconds() -> dict[str, float]:
    """Seconds accumulated per stage since the last reset (in this process, plus merged worker times)."""
    return dict(_stage_seconds)


def reset_stage_seconds() -> None:
    """Zero the accumulator."""
    for key in _stage_seconds:
        _stage_seconds[key] = 0.0


def add_stage_seconds(seconds: dict[str, float]) -> None:
    """Merge times measured elsewhere (a worker process) into this process's accumulator."""
    for key, value in seconds.items():
        _stage_seconds[key] += value


@contextlib.contextmanager
def timed(stage: str):
    """Accumulate the wall time of the block under `stage` when timing is enabled."""
    if not _timing["enabled"]:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        _stage_seconds[stage] += time.perf_counter() - start


@dataclass(frozen=True)
class Window:
    """A rectangle of a frame in native sensor coordinates; top/left may be negative when a test crop
    needs more pixels than the profile's frame has (the sensor is then taken as large as needed)."""

    top: int
    left: int
    height: int
    width: int


def _tiles(window: Window):
    """Indices and origins of the pattern tiles meeting `window`."""
    for tile_y in range(window.top // PATTERN_TILE, (window.top + window.height - 1) // PATTERN_TILE + 1):
        for tile_x in range(window.left // PATTERN_TILE, (window.left + window.width - 1) // PATTERN_TILE + 1):
            yield tile_y, tile_x, tile_y * PATTERN_TILE - window.top, tile_x * PATTERN_TILE - window.left


def _tile_rng(device: Device, kind: int, tile_y: int, tile_x: int) -> np.random.Generator:
    offset = 1 << 20  # tiles left of / above the origin have negative indices
    sequence = np.random.SeedSequence(device.pattern_seed, spawn_key=(kind, tile_y + offset, tile_x + offset))
    return np.random.default_rng(sequence)


def prnu_gain(device: Device, window: Window) -> np.ndarray:
    """The device's multiplicative PRNU gain (1 + K) over `window`; the same pixel always gets the same K."""
    gain = np.empty((window.height, window.width), dtype=np.float32)
    for tile_y, tile_x, row, col in _tiles(window):
        tile = 1.0 + device.prnu_std * _tile_rng(device, 1, tile_y, tile_x).standard_normal(
            (PATTERN_TILE, PATTERN_TILE), dtype=np.float32)
        r0, c0 = max(row, 0), max(col, 0)
        r1, c1 = min(row + PATTERN_TILE, window.height), min(col + PATTERN_TILE, window.width)
        gain[r0:r1, c0:c1] = tile[r0 - row:r1 - row, c0 - col:c1 - col]
    return gain


def hot_pixels(device: Device, window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, extra signal as a fraction of full scale) of the device's hot pixels inside `window`."""
    rate = device.hot_pixels_per_mp * PATTERN_TILE ** 2 / 1e6
    rows, cols, levels = [], [], []
    for tile_y, tile_x, row, col in _tiles(window):
        rng = _tile_rng(device, 2, tile_y, tile_x)
        count = rng.poisson(rate)
        if count:
            r = row + rng.integers(0, PATTERN_TILE, count)
            c = col + rng.integers(0, PATTERN_TILE, count)
            level = rng.uniform(0.05, 0.6, count)
            keep = (r >= 0) & (r < window.height) & (c >= 0) & (c < window.width)
            rows.append(r[keep])
            cols.append(c[keep])
            levels.append(level[keep])
    if not rows:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(levels)


def _cfa_channels(pattern: str) -> dict[tuple[int, int], int]:
    """Colour index (0=R, 1=G, 2=B) at each of the four positions of the 2x2 Bayer cell."""
    index = {"R": 0, "G": 1, "B": 2}
    return {(0, 0): index[pattern[0]], (0, 1): index[pattern[1]], (1, 0): index[pattern[2]], (1, 1): index[pattern[3]]}


def optics(scene: np.ndarray, model: CameraModel) -> np.ndarray:
    """Lens blur: a Gaussian PSF of the model's sigma, per channel."""
    return cv2.GaussianBlur(scene, (0, 0), model.psf_sigma, borderType=cv2.BORDER_REFLECT)


@dataclass(frozen=True)
class Metering:
    """What the camera decided from its preview of the whole frame: exposure and white-balance gains."""

    exposure: float  # multiplier from scene light to sensor full scale
    wb_gains: tuple[float, float, float]  # per camera channel


def meter(preview: np.ndarray, model: CameraModel) -> Metering:
    """Auto-exposure (mean green response hits the model's target) and grey-world white balance (on the
    exposed, clipped camera RGB, times the model's red/blue bias), both from a low-resolution preview."""
    camera_rgb = cv2.transform(preview.astype(np.float32), np.asarray(model.sensor_matrix, dtype=np.float32))
    camera_rgb = camera_rgb.reshape(-1, 3).astype(np.float64)
    exposure = model.exposure_target / max(float(camera_rgb[:, 1].mean()), 1e-6)
    means = np.maximum(np.clip(camera_rgb * exposure, 0.0, 1.0).mean(axis=0), 1e-6)
    gains = means[1] / means * np.array([model.wb_bias[0], 1.0, model.wb_bias[1]])
    return Metering(float(exposure), tuple(float(g) for g in gains))


def mosaic(scene: np.ndarray, model: CameraModel, exposure: float) -> np.ndarray:
    """Sample the colour filter array: each pixel keeps the one camera channel its filter passes."""
    response = np.asarray(model.sensor_matrix, dtype=np.float32) * np.float32(exposure)
    camera_rgb = cv2.transform(scene, response)
    cfa = np.empty(scene.shape[:2], dtype=np.float32)
    for (dy, dx), channel in _cfa_channels(model.cfa).items():
        cfa[dy::2, dx::2] = camera_rgb[dy::2, dx::2, channel]
    return cfa


def iso_gain(model: CameraModel, rng) -> float:
    """The frame's sensor gain: scenes differ in light, so auto-ISO amplifies fewer photons by 1..iso_max."""
    return float(np.exp(rng.uniform(0.0, math.log(model.iso_max)))) if model.iso_max > 1 else 1.0


def sensor_noise(cfa: np.ndarray, model: CameraModel, device: Device, window: Window, rng, gain: float = 1.0) -> np.ndarray:
    """PRNU, shot and read noise, hot pixels, saturation and the ADC at sensor gain `gain`: full scale is then
    reached with 1/gain of the well's electrons, so shot and read noise grow relative to the signal.
    Returns normalised raw in ~0..1."""
    full_scale = np.float32(device.full_well / gain)  # electrons that reach the ADC's white level
    electrons = cfa * prnu_gain(device, window) * full_scale
    np.minimum(electrons, full_scale, out=electrons)  # the well (or the amplified signal) saturates
    rows, cols, levels = hot_pixels(device, window)
    electrons[rows, cols] += (levels * full_scale).astype(np.float32)
    sigma = np.sqrt(np.maximum(electrons, 0.0) + np.float32(device.read_noise ** 2))  # Gaussian shot + read
    electrons += sigma * rng.standard_normal(cfa.shape, dtype=np.float32)
    white = 2 ** model.raw_bits - 1
    black = 2 ** (model.raw_bits - 4)
    span = np.float32(white - black)
    digital = np.clip(np.rint(black + electrons * (span / full_scale)), 0, white)
    return (digital - np.float32(black)) / span


def white_balance(raw: np.ndarray, model: CameraModel, gains) -> np.ndarray:
    """Apply the metered white-balance gains on the CFA; highlights clip at full scale."""
    balanced = np.empty_like(raw)
    for (dy, dx), channel in _cfa_channels(model.cfa).items():
        balanced[dy::2, dx::2] = raw[dy::2, dx::2] * np.float32(gains[channel])
    return np.clip(balanced, 0.0, 1.0, out=balanced)


@contextlib.contextmanager
def colour_float32():
    """Run colour-science in float32 (2-3x faster than its float64 default, plenty for 8-bit output).
    The setting is global to the process, so builds enter this once around all their frames."""
    import colour.constants
    import colour.utilities

    previous = colour.constants.DTYPE_FLOAT_DEFAULT
    if previous == np.float32:
        yield
        return
    colour.utilities.set_default_float_dtype(np.float32)
    try:
        yield
    finally:
        colour.utilities.set_default_float_dtype(previous)


def demosaic(raw: np.ndarray, model: CameraModel) -> np.ndarray:
    """Interpolate the missing colours with the model's colour_demosaicing algorithm (in float32)."""
    with warnings.catch_warnings():  # it imports from scipy.ndimage.filters, deprecated: not ours to fix
        warnings.simplefilter("ignore", DeprecationWarning)
        import colour_demosaicing as cd

    algorithms = {
        "bilinear": cd.demosaicing_CFA_Bayer_bilinear,
        "malvar2004": cd.demosaicing_CFA_Bayer_Malvar2004,
        "menon2007": functools.partial(cd.demosaicing_CFA_Bayer_Menon2007, refining_step=False),
        "menon2007_refined": functools.partial(cd.demosaicing_CFA_Bayer_Menon2007, refining_step=True),
    }
    if model.demosaic not in algorithms:
        raise ValueError(f"unknown demosaicing algorithm {model.demosaic!r}; choose from {sorted(algorithms)}")
    with colour_float32():
        rgb = algorithms[model.demosaic](raw, model.cfa)
    return np.ascontiguousarray(rgb, dtype=np.float32)


@functools.lru_cache(maxsize=64)
def tone_lut(gamma: float, shoulder: float, size: int = 65536) -> np.ndarray:
    """Tone curve on 0..1 as a LUT: a power law with a short linear toe, then a highlight shoulder."""
    x = np.linspace(0.0, 1.0, size)
    toe = 0.004
    power = ((x + toe) ** (1 / gamma) - toe ** (1 / gamma)) / ((1 + toe) ** (1 / gamma) - toe ** (1 / gamma))
    return (power * (1 + shoulder) / (power + shoulder)).astype(np.float32)


def render(scene: np.ndarray, preview: np.ndarray, model: CameraModel, device: Device, window: Window,
           rng: np.random.Generator) -> np.ndarray:
    """The full pipeline on the linear scene of `window` (metered on `preview`, a low-resolution view of the
    whole frame): returns the camera's uint8 RGB image of the window."""
    if scene.shape[:2] != (window.height, window.width):
        raise ValueError(f"scene {scene.shape[:2]} does not match the window {window.height}x{window.width}")
    if window.top % 2 or window.left % 2:
        raise ValueError("a window must start on an even row and column to keep the Bayer phase")
    with timed("optics"):
        blurred = optics(scene, model)
    with timed("cfa_demosaic"):
        metering = meter(preview, model)
        cfa = mosaic(blurred, model, metering.exposure)
    with timed("noise_prnu"):
        raw = sensor_noise(cfa, model, device, window, rng, iso_gain(model, rng))
    with timed("isp"):
        raw = white_balance(raw, model, metering.wb_gains)
    with timed("cfa_demosaic"):
        rgb = demosaic(raw, model)
    with timed("isp"):
        return finish(rgb, model)


def _blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    return cv2.GaussianBlur(plane, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def finish(rgb: np.ndarray, model: CameraModel) -> np.ndarray:
    """Colour matrix and tone curve, then on JPEG's YCbCr: chroma smoothing, edge-aware luma smoothing
    and unsharp masking; returns uint8 RGB."""
    rendered = cv2.transform(rgb, np.asarray(model.ccm, dtype=np.float32))
    lut = tone_lut(model.tone_gamma, model.tone_shoulder)
    np.clip(rendered, 0.0, 1.0, out=rendered)
    rendered *= np.float32(lut.size - 1)
    rendered += np.float32(0.5)
    toned = lut[rendered.astype(np.int32)]

    luma = cv2.transform(toned, LUMA[None, :])
    chroma_b = toned[..., 2] - luma
    chroma_r = toned[..., 0] - luma
    if model.denoise_chroma_sigma > 0.05:
        chroma_b, chroma_r = _blur(chroma_b, model.denoise_chroma_sigma), _blur(chroma_r, model.denoise_chroma_sigma)
    if model.denoise_luma > 0:
        detail = _blur(luma, 1.0) - luma
        flatness = np.exp(-np.square(detail * np.float32(1 / DENOISE_THRESHOLD)))  # 1 on flat areas, ~0 on edges
        flatness *= np.float32(model.denoise_luma)
        luma += flatness * detail
    if model.sharpen_amount > 0:
        luma += np.float32(model.sharpen_amount) * (luma - _blur(luma, model.sharpen_radius))

    red = luma + chroma_r
    blue = luma + chroma_b
    green = (luma - LUMA[0] * red - LUMA[2] * blue) * np.float32(1 / LUMA[1])
    return cv2.convertScaleAbs(cv2.merge([red, green, blue]), alpha=255.0)
