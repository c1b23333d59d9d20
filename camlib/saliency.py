"""What the network looks at: input-gradient saliency, and the flattest and most textured crops of a photo."""
from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import gaussian_filter, uniform_filter

from .infer import to_tensor

Box = tuple[int, int, int]  # (top, left, side), as in camlib.infer.crop_boxes


def gradient_saliency(model, crops_uint8, target_indices) -> np.ndarray:
    """(N, H, W) float32 maps of |d logit_target / d input| summed over the colour channels, one per crop.

    crops_uint8: (N, H, W, 3) uint8 RGB; target_indices: the class whose logit is explained, per crop.
    The model is put in eval mode; only the input's gradient is computed (no parameter .grad is kept)."""
    crops = np.asarray(crops_uint8)
    if crops.ndim != 4 or len(crops) == 0 or crops.shape[-1] != 3 or crops.dtype != np.uint8:
        raise ValueError(f"crops_uint8 must be a non-empty (N, H, W, 3) uint8 array, "
                         f"got {crops.dtype} of shape {crops.shape}")
    targets = np.asarray(target_indices)
    if targets.shape != (len(crops),) or not np.issubdtype(targets.dtype, np.integer):
        raise ValueError(f"target_indices must hold one integer per crop ({len(crops)}), got shape {targets.shape}")
    model.eval()
    device = next(model.parameters()).device
    with torch.enable_grad():
        images = to_tensor(crops).to(device).requires_grad_(True)
        logits = model(images)  # (N, num_classes)
        if not (0 <= targets.min() and targets.max() < logits.shape[1]):
            raise ValueError(f"target_indices must lie in [0, {logits.shape[1]}), got {targets.min()}..{targets.max()}")
        chosen = logits.gather(1, torch.as_tensor(targets, device=device).long().view(-1, 1))
        # Each crop's logit depends on its own pixels only (eval mode), so one backward pass serves them all.
        (gradient,) = torch.autograd.grad(chosen.sum(), images)
    return gradient.abs().sum(dim=1).float().cpu().numpy()


def texture_map(image, blur_sigma: float = 1.0, window: int = 9) -> np.ndarray:
    """(H, W) float32: local standard deviation (over `window` x `window` pixels) of the grayscale image,
    after a light Gaussian blur (`blur_sigma`) that keeps pixel noise from counting as texture."""
    pixels = np.asarray(image, dtype=np.float32)
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        pixels = pixels[..., :3].mean(axis=-1)
    if pixels.ndim != 2:
        raise ValueError(f"image must be H x W or H x W x 3, got shape {np.shape(image)}")
    if window < 2:
        raise ValueError(f"window must be at least 2 pixels, got {window}")
    smooth = gaussian_filter(pixels, blur_sigma) if blur_sigma > 0 else pixels
    mean = uniform_filter(smooth, window)
    variance = uniform_filter(smooth * smooth, window) - mean * mean
    return np.sqrt(np.maximum(variance, 0)).astype(np.float32)  # rounding can make a flat patch's variance -1e-7


def flat_and_textured_boxes(image, crop: int, n: int) -> tuple[list[Box], list[Box]]:
    """(the n flattest crop boxes, the n most textured), by mean texture_map, among the tiles of a grid of
    non-overlapping crop x crop squares; the two lists never share a tile. Boxes are (top, left, side)."""
    height, width = np.shape(image)[:2]
    if not 1 <= crop <= min(height, width):
        raise ValueError(f"crop must be between 1 and the image's shorter side ({min(height, width)}), got {crop}")
    texture = texture_map(image)
    boxes = [(top, left, crop) for top in range(0, height - crop + 1, crop) for left in range(0, width - crop + 1, crop)]
    if not 1 <= n <= len(boxes) // 2:
        raise ValueError(f"n must be between 1 and half the {len(boxes)} grid tiles ({len(boxes) // 2}), got {n}")
    means = np.array([texture[top:top + side, left:left + side].mean() for top, left, side in boxes])
    order = np.argsort(means, kind="stable")
    return [boxes[i] for i in order[:n]], [boxes[i] for i in order[::-1][:n]]
