"""The zoo described for a reader: each virtual camera's parameters as a table, and the difficulty levels in words."""
from __future__ import annotations

from .cameras import (DEFAULT_DIFFICULTY, DIFFICULTIES, SUBSAMPLING_NAMES, camera_devices, camera_label,
                      camera_models, check_difficulty)

# What each difficulty is for; the knobs themselves are spelled out by `describe_difficulty`.
DIFFICULTY_PURPOSE = {
    "distinct": "the default: cameras far apart, so that the cpu profile's small model converges within a laptop's budget",
    "subtle": "cameras closer together and shots at varying sensor gain; the gpu profile's zoo, on which a small model "
              "needs far longer training",
    "very_subtle": "cameras nearly alike: one colour filter layout, one demosaicing algorithm, one chroma subsampling",
}


def _choices(values) -> str:
    distinct = list(dict.fromkeys(values))
    return ", ".join(str(v) for v in distinct)


def describe_difficulty(difficulty: str = DEFAULT_DIFFICULTY) -> str:
    """One plain sentence on what a difficulty level sets, built from its knobs."""
    knobs = check_difficulty(difficulty)
    low, high = knobs.jpeg_quality
    gain = "every shot at base sensor gain" if knobs.iso_max <= 1 else f"each shot at its own sensor gain, 1 to {knobs.iso_max:g}x"
    return (f"Difficulty {difficulty} ({DIFFICULTY_PURPOSE.get(difficulty, '')}): each continuous parameter (blur, crosstalk, "
            f"white balance, colour matrix, exposure, noise, denoising, sharpening, tone curve) spreads over "
            f"{100 * knobs.spread:.0f}% of its full range across the cameras; colour filter layouts "
            f"{_choices(knobs.cfa)}; demosaicing {_choices(knobs.demosaic)}; chroma subsampling "
            f"{_choices(SUBSAMPLING_NAMES[s] for s in knobs.subsampling)}; JPEG quality {low}-{high}; raw "
            f"{_choices(knobs.raw_bits)} bit; {gain}.")


def difficulty_table():
    """One row per difficulty level: how far apart the cameras are and which discrete choices they share."""
    import pandas as pd
    rows = []
    for name, knobs in DIFFICULTIES.items():
        rows.append({"difficulty": name, "spread of continuous parameters": f"{100 * knobs.spread:.0f}% of the range",
                     "CFA layouts": _choices(knobs.cfa), "demosaicing": _choices(knobs.demosaic),
                     "chroma subsampling": _choices(SUBSAMPLING_NAMES[s] for s in knobs.subsampling),
                     "JPEG quality": f"{knobs.jpeg_quality[0]}-{knobs.jpeg_quality[1]}",
                     "raw bits": _choices(knobs.raw_bits),
                     "sensor gain": "1" if knobs.iso_max <= 1 else f"1-{knobs.iso_max:g}",
                     "purpose": DIFFICULTY_PURPOSE.get(name, "")})
    return pd.DataFrame(rows)


def camera_table(difficulty: str = DEFAULT_DIFFICULTY, n_models: int = 10, seed: int = 0, equalize=()):
    """One row per virtual camera of a zoo (as `build_zoo` makes it for these arguments): its pipeline parameters,
    grouped by trace family, and the PRNU strength of its two devices (training / test)."""
    import pandas as pd
    rows = []
    for index, model in enumerate(camera_models(n_models, difficulty, seed, equalize)):
        devices = camera_devices(model, index, seed, equalize)
        gain = "1" if model.iso_max <= 1 else f"1-{model.iso_max:g}"
        rows.append({
            "camera": camera_label(model.name),
            "CFA": model.cfa,
            "demosaicing": model.demosaic,
            "blur σ (px)": f"{model.psf_sigma:.2f}",
            "denoising (luma, chroma σ)": f"{model.denoise_luma:.2f}, {model.denoise_chroma_sigma:.2f}",
            "sharpening (amount, radius)": f"{model.sharpen_amount:.2f}, {model.sharpen_radius:.2f}",
            "tone (gamma, shoulder)": f"{model.tone_gamma:.2f}, {model.tone_shoulder:.2f}",
            "colour (crosstalk, saturation, hue)": f"{model.crosstalk:.3f}, {model.ccm_saturation:.2f}, "
                                                    f"{model.ccm_hue_deg:+.1f}°",
            "WB bias (R, B)": f"{model.wb_bias[0]:.3f}, {model.wb_bias[1]:.3f}",
            "exposure target": f"{model.exposure_target:.3f}",
            "noise (full well e⁻, read e⁻, raw bits)": f"{model.full_well:.0f}, {model.read_noise:.2f}, {model.raw_bits}",
            "sensor gain": gain,
            "JPEG (quality, subsampling)": f"{model.jpeg_quality}, {SUBSAMPLING_NAMES[model.jpeg_subsampling]}",
            "PRNU σ (device 1, 2)": f"{devices[0].prnu_std:.4f}, {devices[1].prnu_std:.4f}",
        })
    return pd.DataFrame(rows)

