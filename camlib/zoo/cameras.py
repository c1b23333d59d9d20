"""Simulated camera models and devices: per-model pipeline parameters and the difficulty knobs, in one place."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

KAGGLE_MODELS = (
    "HTC-1-M7", "iPhone-4s", "iPhone-6", "LG-Nexus-5x", "Motorola-Droid-Maxx",
    "Motorola-Nexus-6", "Motorola-X", "Samsung-Galaxy-Note3", "Samsung-Galaxy-S4", "Sony-NEX-7",
)
# The challenge's camera names as a reader knows them: a zoo camera takes the place of one of them as a class, nothing more
# (its parameters are drawn, not measured on that phone).
KAGGLE_DISPLAY_NAMES = (
    "HTC One M7", "iPhone 4s", "iPhone 6", "LG Nexus 5x", "Motorola Droid Maxx",
    "Motorola Nexus 6", "Motorola X", "Samsung Galaxy Note 3", "Samsung Galaxy S4", "Sony NEX-7",
)
# Neutral class (and folder) names; two digits, so that sorting the names keeps the cameras' order.
MODEL_NAMES = tuple(f"Zoo-{i + 1:02d}" for i in range(len(KAGGLE_MODELS)))
CFA_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
SUBSAMPLING_NAMES = {0: "4:4:4", 1: "4:2:2", 2: "4:2:0"}  # PIL's `subsampling` codes
ASPECTS = (4 / 3, 4 / 3, 3 / 2, 16 / 9)  # native frame shapes, a nuisance not tied to difficulty
SIZE_SCALE_RANGE = (0.85, 1.25)  # native pixel count relative to the profile's megapixels

# Continuous pipeline parameters: (reference value, half-range at spread 1). A model's value is
# reference + spread * half_range * offset, with offsets spread evenly over [-1, 1] across the models
# (one seeded permutation per parameter), so the difficulty's `spread` alone sets how far apart they are.
CONTINUOUS = {
    "psf_sigma": (0.75, 0.30),  # optics: Gaussian PSF sigma, sensor pixels
    "crosstalk": (0.10, 0.06),  # sensor: fraction of a pixel's light read by the other two colour filters
    "wb_bias_red": (1.00, 0.08),  # AWB: model-specific multiplier on the grey-world red gain
    "wb_bias_blue": (1.00, 0.08),
    "ccm_saturation": (1.30, 0.30),  # colour matrix: saturation boost of the rendering intent
    "ccm_hue_deg": (0.00, 6.00),  # colour matrix: hue rotation about the grey axis
    "exposure_target": (0.18, 0.04),  # AE: mean linear green the exposure aims for
    "full_well": (6000.0, 2500.0),  # sensor: electrons at saturation (shot noise level)
    "read_noise": (3.0, 1.5),  # sensor: read noise, electrons
    "denoise_luma": (0.45, 0.35),  # ISP: 0..1 share of edge-aware luma smoothing
    "denoise_chroma_sigma": (1.20, 0.90),  # ISP: Gaussian sigma of the chroma smoothing, pixels
    "sharpen_amount": (0.60, 0.50),  # ISP: unsharp-mask amount on luma
    "sharpen_radius": (1.10, 0.40),  # ISP: unsharp-mask Gaussian sigma, pixels
    "tone_gamma": (2.20, 0.25),  # tone curve: power-law exponent
    "tone_shoulder": (1.50, 1.00),  # tone curve: highlight roll-off (small = strong compression)
}


@dataclass(frozen=True)
class DifficultyKnobs:
    """How far apart the models of one difficulty are: continuous spread and the discrete choices
    (each choice list is cycled over a seeded order of the models, so repeats mean shared settings)."""

    spread: float
    cfa: tuple[str, ...]
    demosaic: tuple[str, ...]
    subsampling: tuple[int, ...]
    jpeg_quality: tuple[int, int]  # inclusive range, spread evenly over the models
    raw_bits: tuple[int, ...]
    iso_max: float = 1.0  # per-frame sensor gain drawn log-uniformly in [1, iso_max] (scene light level)


# Named by how far apart the camera models are. "distinct" is the default: calibrated so that the cpu profile's model
# converges within a laptop's budget (README, "The simulated camera zoo"); the subtler ones need far longer training.
DIFFICULTIES = {
    "distinct": DifficultyKnobs(1.0, CFA_PATTERNS, ("bilinear", "malvar2004", "menon2007"), (0, 1, 2), (85, 97), (10, 12)),
    "subtle": DifficultyKnobs(0.3, ("RGGB", "RGGB", "BGGR"), ("malvar2004", "menon2007"), (2, 2, 1), (90, 95),
                              (10, 12), iso_max=4.0),
    "very_subtle": DifficultyKnobs(0.12, ("RGGB",), ("malvar2004",), (2,), (92, 94), (12,), iso_max=8.0),
}
DEFAULT_DIFFICULTY = "distinct"

# Devices of one model share its sensor and ISP; they differ by these (log-normal jitter, std).
DEVICE_PRNU_STD = (0.005, 0.010)  # PRNU gain std, uniform range
DEVICE_NOISE_JITTER = 0.08  # relative spread of read noise and full well between units
DEVICE_HOT_PIXELS_PER_MP = (1.0, 6.0)

# Trace families that `equalize` makes the same for every camera (to measure which ones carry a camera's identity):
# what each fixes. A continuous parameter takes its reference value (the centre of its range), JPEG quality the middle
# of the difficulty's range, a discrete choice the difficulty's most frequent one (the first on a tie). Every value is
# still drawn, so the other families keep exactly the values of the zoo without `equalize`.
EQUALIZE_FAMILIES = {
    "jpeg": "JPEG quality and chroma subsampling",
    "cfa": "colour filter layout and demosaicing algorithm",
    "colour": "colour and tone: sensor crosstalk, white-balance bias, colour matrix, exposure target, tone curve",
    "noise": "sensor noise: full well, read noise and raw bit depth; each device's PRNU strength, noise jitter and "
             "hot-pixel rate (its PRNU pattern stays its own)",
    "isp": "optics blur, denoising and sharpening",
}
EQUALIZED_CONTINUOUS = {
    "colour": ("crosstalk", "wb_bias_red", "wb_bias_blue", "ccm_saturation", "ccm_hue_deg", "exposure_target",
               "tone_gamma", "tone_shoulder"),
    "noise": ("full_well", "read_noise"),
    "isp": ("psf_sigma", "denoise_luma", "denoise_chroma_sigma", "sharpen_amount", "sharpen_radius"),
}
EQUALIZED_DISCRETE = {"jpeg": ("subsampling",), "cfa": ("cfa", "demosaic"), "noise": ("raw_bits",)}


@dataclass(frozen=True)
class CameraModel:
    """One virtual camera model: everything its devices share (optics, sensor type, ISP, JPEG)."""

    name: str
    cfa: str
    demosaic: str
    psf_sigma: float
    crosstalk: float
    sensor_matrix: tuple  # 3x3: camera RGB = scene RGB @ sensor_matrix.T
    wb_bias: tuple  # (red, blue) multipliers on the grey-world gains
    ccm: tuple  # 3x3 camera RGB -> output RGB, rows sum to 1 (grey stays grey)
    ccm_saturation: float
    ccm_hue_deg: float
    exposure_target: float
    full_well: float
    read_noise: float
    raw_bits: int
    iso_max: float  # auto-ISO: each frame's sensor gain is drawn log-uniformly in [1, iso_max]
    denoise_luma: float
    denoise_chroma_sigma: float
    sharpen_amount: float
    sharpen_radius: float
    tone_gamma: float
    tone_shoulder: float
    jpeg_quality: int
    jpeg_subsampling: int
    aspect: float
    size_scale: float

    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        return asdict(self)


@dataclass(frozen=True)
class Device:
    """One unit of a camera model: its own PRNU pattern, noise levels and hot pixels."""

    name: str
    model: str
    index: int  # 1 = training device, 2 = test device (as in the challenge)
    prnu_std: float
    read_noise: float
    full_well: float
    hot_pixels_per_mp: float
    pattern_seed: int  # seeds the PRNU and hot-pixel fields

    def to_dict(self) -> dict:
        """Plain JSON-ready dict."""
        return asdict(self)


def check_difficulty(difficulty: str) -> DifficultyKnobs:
    """The knobs of a difficulty name, or ValueError listing the valid names."""
    if difficulty not in DIFFICULTIES:
        raise ValueError(f"unknown difficulty {difficulty!r}; choose from {', '.join(DIFFICULTIES)}")
    return DIFFICULTIES[difficulty]


def check_equalize(equalize) -> tuple[str, ...]:
    """The sorted, distinct family names of `equalize`, or ValueError naming the families."""
    if isinstance(equalize, str):
        equalize = (equalize,)
    families = tuple(sorted(set(equalize)))
    unknown = [name for name in families if name not in EQUALIZE_FAMILIES]
    if unknown:
        raise ValueError(f"unknown trace family {unknown[0]!r} to equalize; choose from {', '.join(EQUALIZE_FAMILIES)}")
    return families


def _most_frequent(choices: tuple):
    return max(choices, key=choices.count)


def model_names(n: int) -> list[str]:
    """The class names of an n-camera zoo: Zoo-01, Zoo-02, ..."""
    return [f"Zoo-{i + 1:02d}" for i in range(n)]


def camera_label(name: str) -> str:
    """A zoo class name as a reader sees it: 'Zoo-06' -> 'Zoo camera 6 (after Motorola Nexus 6)'; other names as given."""
    prefix, _, number = name.partition("-")
    if prefix != "Zoo" or not number.isdigit():
        return name
    index = int(number) - 1
    after = f" (after {KAGGLE_DISPLAY_NAMES[index]})" if 0 <= index < len(KAGGLE_DISPLAY_NAMES) else ""
    return f"Zoo camera {index + 1}{after}"


def _even_offsets(rng, n: int) -> np.ndarray:
    """n offsets evenly covering [-1, 1] (cell centres) in a seeded random order."""
    return ((rng.permutation(n) + 0.5) / n) * 2.0 - 1.0


def _cycled(rng, choices, n: int) -> list:
    """Assign choices to n models round-robin over a seeded order: every choice used, some shared."""
    return [choices[k % len(choices)] for k in rng.permutation(n)]


def sensor_matrix(crosstalk: float) -> np.ndarray:
    """Colour filter response: each channel also sees `crosstalk` of the other two lights, rows sum to 1."""
    return (1 - 1.5 * crosstalk) * np.eye(3) + crosstalk / 2 * np.ones((3, 3))


def colour_matrix(crosstalk: float, saturation: float, hue_deg: float) -> np.ndarray:
    """CCM = hue rotation about grey . saturation . inverse crosstalk; rows sum to 1 (grey preserved)."""
    luma = np.array([0.2126, 0.7152, 0.0722])
    saturate = np.outer(np.ones(3), luma) + saturation * (np.eye(3) - np.outer(np.ones(3), luma))
    axis = np.ones(3) / math.sqrt(3)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    angle = math.radians(hue_deg)
    rotate = np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross
    matrix = rotate @ saturate @ np.linalg.inv(sensor_matrix(crosstalk))
    return matrix / matrix.sum(axis=1, keepdims=True)


def _as_tuple(matrix: np.ndarray) -> tuple:
    return tuple(tuple(round(float(x), 6) for x in row) for row in matrix)


def camera_models(n: int = 10, difficulty: str = DEFAULT_DIFFICULTY, seed: int = 0, equalize=()) -> list[CameraModel]:
    """The n virtual camera models of a zoo; deterministic in (n, difficulty, seed). `equalize` names trace
    families (EQUALIZE_FAMILIES) to make the same for every model; the others keep their values."""
    knobs = check_difficulty(difficulty)
    equalize = check_equalize(equalize)
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"a zoo needs at least 2 camera models, got n={n!r}")
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x5EED, 1)))
    values = {}
    for key, (reference, half_range) in CONTINUOUS.items():
        values[key] = reference + knobs.spread * half_range * _even_offsets(rng, n)
    low, high = knobs.jpeg_quality
    quality = np.rint(low + (high - low) * (_even_offsets(rng, n) + 1) / 2).astype(int)
    discrete = {key: _cycled(rng, getattr(knobs, key), n) for key in ("cfa", "demosaic", "subsampling", "raw_bits")}
    aspects = _cycled(rng, ASPECTS, n)
    size_scale = SIZE_SCALE_RANGE[0] + (SIZE_SCALE_RANGE[1] - SIZE_SCALE_RANGE[0]) * (_even_offsets(rng, n) + 1) / 2
    for family in equalize:  # after every draw, so that the other families keep their values
        for key in EQUALIZED_CONTINUOUS.get(family, ()):
            values[key] = np.full(n, CONTINUOUS[key][0])
        for key in EQUALIZED_DISCRETE.get(family, ()):
            discrete[key] = [_most_frequent(getattr(knobs, key))] * n
        if family == "jpeg":
            quality = np.full(n, round((low + high) / 2))

    models = []
    for i, name in enumerate(model_names(n)):
        v = {key: float(values[key][i]) for key in CONTINUOUS}
        models.append(CameraModel(
            name=name, cfa=discrete["cfa"][i], demosaic=discrete["demosaic"][i],
            psf_sigma=round(v["psf_sigma"], 4), crosstalk=round(v["crosstalk"], 4),
            sensor_matrix=_as_tuple(sensor_matrix(v["crosstalk"])),
            wb_bias=(round(v["wb_bias_red"], 4), round(v["wb_bias_blue"], 4)),
            ccm=_as_tuple(colour_matrix(v["crosstalk"], v["ccm_saturation"], v["ccm_hue_deg"])),
            ccm_saturation=round(v["ccm_saturation"], 4), ccm_hue_deg=round(v["ccm_hue_deg"], 3),
            exposure_target=round(v["exposure_target"], 4), full_well=round(v["full_well"], 1),
            read_noise=round(v["read_noise"], 3), raw_bits=int(discrete["raw_bits"][i]), iso_max=float(knobs.iso_max),
            denoise_luma=round(v["denoise_luma"], 4), denoise_chroma_sigma=round(v["denoise_chroma_sigma"], 4),
            sharpen_amount=round(v["sharpen_amount"], 4), sharpen_radius=round(v["sharpen_radius"], 4),
            tone_gamma=round(v["tone_gamma"], 4), tone_shoulder=round(v["tone_shoulder"], 4),
            jpeg_quality=int(quality[i]), jpeg_subsampling=int(discrete["subsampling"][i]),
            aspect=round(float(aspects[i]), 6), size_scale=round(float(size_scale[i]), 4),
        ))
    return models


def camera_devices(model: CameraModel, model_index: int, seed: int = 0, equalize=()) -> tuple[Device, Device]:
    """The two units of a model (1 trains, 2 tests): same sensor design, own PRNU and small noise jitter.
    With "noise" in `equalize` every unit gets the same PRNU strength and hot-pixel rate and no jitter."""
    same = "noise" in check_equalize(equalize)
    devices = []
    for index in (1, 2):
        sequence = np.random.SeedSequence(seed, spawn_key=(0x5EED, 2, model_index, index))
        rng = np.random.default_rng(sequence)
        prnu_std, read_jitter, well_jitter, hot = (rng.uniform(*DEVICE_PRNU_STD), rng.normal(0, DEVICE_NOISE_JITTER),
                                                   rng.normal(0, DEVICE_NOISE_JITTER), rng.uniform(*DEVICE_HOT_PIXELS_PER_MP))
        if same:
            prnu_std, read_jitter, well_jitter, hot = np.mean(DEVICE_PRNU_STD), 0.0, 0.0, np.mean(DEVICE_HOT_PIXELS_PER_MP)
        devices.append(Device(
            name=f"{model.name}-device{index}", model=model.name, index=index,
            prnu_std=round(float(prnu_std), 5),
            read_noise=round(model.read_noise * float(np.exp(read_jitter)), 4),
            full_well=round(model.full_well * float(np.exp(well_jitter)), 1),
            hot_pixels_per_mp=round(float(hot), 3),
            pattern_seed=int(sequence.generate_state(1, np.uint32)[0]),
        ))
    return devices[0], devices[1]


def frame_shape(model: CameraModel, megapixels: float) -> tuple[int, int]:
    """Native (height, width) of the model's frames for a profile's megapixels, multiples of 16."""
    pixels = megapixels * 1e6 * model.size_scale
    height = math.sqrt(pixels / model.aspect)
    return max(16, int(round(height / 16)) * 16), max(16, int(round(height * model.aspect / 16)) * 16)
