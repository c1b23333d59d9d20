"""The one image reader: decode to uint8 RGB in the stored pixel grid, or fail with `path: reason`.

EXIF orientation is deliberately ignored: demosaicing, JPEG-block and sensor-noise traces live in the
pixel grid as the camera stored it, and rotating by the EXIF tag would move them. (HEIC is the one
exception: libheif, through the optional pillow-heif, always applies the container's rotation.) Every loader,
trainer, predictor and the curation filter read images through `read_image`. The reader prints
nothing: library warnings are silenced and every failure becomes one `ImageReadError`.
"""
from __future__ import annotations

import io
import os
import re
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp", ".heic", ".heif"}
MAX_PIXELS = 200_000_000  # decompression-bomb guard: larger than any camera sensor we know of

ImageFile.LOAD_TRUNCATED_IMAGES = False

try:  # optional HEIC decoder
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_AVAILABLE = True
except ImportError:
    HEIF_AVAILABLE = False

HEIF_HINT = "HEIC/HEIF image needs a decoder: pip install pillow-heif"
_HEIF_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"}


class ImageReadError(Exception):
    """An image that cannot be used; str() is the one-line `path: reason`."""

    def __init__(self, path, reason: str):
        self.path, self.reason = str(path), " ".join(str(reason).split()) or "unreadable"
        super().__init__(f"{self.path}: {self.reason}")


def is_image_path(path) -> bool:
    """True for file names with an image extension (case-insensitive)."""
    return Path(path).suffix.lower() in IMAGE_EXTENSIONS


def list_images(paths) -> list[Path]:
    """Expand files and folders (recursively) into a sorted list of image paths."""
    found: list[Path] = []
    for path in map(Path, [paths] if isinstance(paths, (str, os.PathLike)) else paths):
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and is_image_path(p))
        else:
            found.append(path)
    return found


def _sniff(head: bytes, path: Path) -> str:
    """Why Pillow could not identify a file, judged from its first bytes."""
    suffix = path.suffix.lower()
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS or suffix in (".heic", ".heif"):
        return HEIF_HINT if not HEIF_AVAILABLE else "corrupt HEIC/HEIF file"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "corrupt or truncated TIFF (its header or first directory cannot be parsed)"
    if head[:3] == b"\xff\xd8\xff":
        return "corrupt or truncated JPEG header"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "corrupt or truncated PNG header"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "corrupt or truncated WebP file"
    lowered = head[:256].lstrip().lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "not an image: the file is an HTML page (a failed download?)"
    text = head.decode("utf-8", "ignore")
    if text and all(c.isprintable() or c.isspace() for c in text):
        return "not an image: the file holds text"
    return "not a recognised image format"


def _bomb_reason(width: int, height: int) -> str:
    return (f"{width}x{height} = {width * height:,} pixels exceeds the {MAX_PIXELS:,}-pixel limit "
            "(decompression-bomb guard; raise camlib.io.MAX_PIXELS for a genuine huge image)")


@contextmanager
def _as_read_errors(path: Path, head: bytes = b""):
    """Silence library warnings and turn every failure into an ImageReadError for `path`."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{int(claimed[1]):,} " if claimed else ""
        raise ImageReadError(path, f"header claims {count}pixels, over the decompression-bomb guard") from None
    except Image.UnidentifiedImageError:
        raise ImageReadError(path, _sniff(head, path)) from None
    except FileNotFoundError:
        raise ImageReadError(path, "file not found") from None
    except MemoryError:
        raise ImageReadError(path, "not enough memory to decode") from None
    except Exception as exc:  # decoders raise OSError, SyntaxError, ValueError, struct.error, ...
        reason = str(exc).strip() or type(exc).__name__
        if "truncated" in reason.lower():
            reason = f"truncated or corrupt image data ({reason})"
        raise ImageReadError(path, f"cannot decode: {reason}") from None


def _read_bytes(path: Path) -> bytes:
    if not path.exists():
        raise ImageReadError(path, "file not found")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not an image file")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageReadError(path, f"cannot read file: {exc.strerror or exc}") from None
    if not data:
        raise ImageReadError(path, "empty file (0 bytes)")
    return data


def _to_rgb8(image: Image.Image, path) -> np.ndarray:
    """Convert any PIL mode to uint8 RGB; 16-bit and float images are scaled, alpha is dropped."""
    mode = image.mode
    if mode.startswith("I;16"):
        array = np.asarray(image).astype(np.float64)
        gray = np.clip(np.round(array / 65535.0 * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "I":  # 32-bit int: Pillow's container for 16-bit data from some formats
        array = np.asarray(image).astype(np.float64)
        peak = 65535.0 if array.max() > 255 else 255.0
        gray = np.clip(np.round(array / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        array = np.nan_to_num(np.asarray(image, dtype=np.float64))
        scale = 255.0 if array.max() <= 1.0 else 1.0
        gray = np.clip(np.round(array * scale), 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "RGB":
        return np.asarray(image)
    try:  # L, P, LA, PA, RGBA, RGBa, CMYK, YCbCr, 1, RGBX, LAB, HSV: alpha is dropped, not composited
        return np.asarray(image.convert("RGB"))
    except (ValueError, OSError):
        raise ImageReadError(path, f"unsupported pixel mode {mode}") from None


# Markers that may follow the entropy-coded data of a scan (T.81 table B.1); anything else is corruption.
_MARKERS_AFTER_SCAN = set(range(0xC0, 0xD0)) | {0xD9, 0xDA, 0xDB, 0xDC, 0xDD, 0xDE, 0xDF} | set(range(0xE0, 0xF0)) | {0xFE}
_STANDALONE = set(range(0xD0, 0xD8)) | {0x01, 0xD8}


def _jpeg_stream_problem(data: bytes) -> str | None:
    """A conclusive sign of damaged entropy-coded data, or None.

    libjpeg only warns (and grey-fills or smears) on a damaged scan, and Pillow drops those warnings,
    so a file with a flash-card dropout decodes "fine". This walks the markers and checks what can be
    checked cheaply: restart markers in sequence and as many as the frame needs, no runs of 0xFF
    bytes inside the scan data, only legal markers after a scan. Unusual but legal files pass.
    """
    array = np.frombuffer(data, dtype=np.uint8)
    ff = np.flatnonzero(array[:-1] == 0xFF)
    following = array[ff + 1]
    pos, frame, restart_interval = 2, None, 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return None  # garbage between segments: libjpeg skips it, not conclusive
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker == 0xD9:
            return None
        if marker in _STANDALONE:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        body = data[pos + 4:pos + 2 + length]
        if marker in (0xC0, 0xC1, 0xC2) and len(body) >= 6:
            height, width, count = int.from_bytes(body[1:3], "big"), int.from_bytes(body[3:5], "big"), body[5]
            components = {body[6 + 3 * i]: (body[7 + 3 * i] >> 4, body[7 + 3 * i] & 15)
                          for i in range(count) if 8 + 3 * i < len(body)}
            frame = (marker, width, height, components)
        elif marker == 0xDD and len(body) >= 2:
            restart_interval = int.from_bytes(body[:2], "big")
        elif marker == 0xDA:
            start = pos + 2 + length
            first = np.searchsorted(ff, start)
            after = following[first:]
            ends = np.flatnonzero((after != 0x00) & (after != 0xFF) & ((after < 0xD0) | (after > 0xD7)))
            if not len(ends):
                return "truncated JPEG: the image data has no end marker"
            end_index = first + ends[0]
            inside = following[first:end_index]
            if np.count_nonzero(inside == 0xFF) > 32:
                return "corrupt JPEG data: a run of 0xFF bytes inside the image data (damaged file)"
            end_marker = int(following[end_index])
            if end_marker not in _MARKERS_AFTER_SCAN:
                return f"corrupt JPEG data: invalid marker 0xFF{end_marker:02X} inside the image data"
            problem = _restart_problem(inside, restart_interval, frame, body)
            if problem:
                return problem
            pos = int(ff[end_index])
            continue
        pos += 2 + length
    return None


def _restart_problem(following: np.ndarray, interval: int, frame, scan_header: bytes) -> str | None:
    restarts = following[(following >= 0xD0) & (following <= 0xD7)].astype(np.int64) - 0xD0
    if len(restarts) and np.any(restarts != np.arange(len(restarts)) % 8):
        return "corrupt JPEG data: restart markers out of sequence (damaged image data)"
    if not interval or frame is None or frame[0] == 0xC2 or frame[2] == 0:
        return None  # progressive scans and DNL-sized frames: count not checked
    _, width, height, components = frame
    h_max = max((h for h, _ in components.values()), default=1) or 1
    v_max = max((v for _, v in components.values()), default=1) or 1
    in_scan = [scan_header[1 + 2 * i] for i in range(scan_header[0]) if 1 + 2 * i < len(scan_header)]
    if len(in_scan) == 1:  # non-interleaved: one MCU per 8x8 block of that component
        h, v = components.get(in_scan[0], (h_max, v_max))
        mcus = -(-(-(-width * h // h_max)) // 8) * -(-(-(-height * v // v_max)) // 8)
    else:
        mcus = -(-width // (8 * h_max)) * -(-height // (8 * v_max))
    expected = -(-mcus // interval) - 1
    if len(restarts) < expected:  # missing image data; an extra trailing marker is harmless
        return f"corrupt or truncated JPEG data: {len(restarts)} of {expected} restart markers"
    return None


def read_image(path, min_size: int = 0) -> np.ndarray:
    """Decode `path` to an HxWx3 uint8 RGB array, or raise ImageReadError with a one-line reason."""
    path = Path(path)
    data = _read_bytes(path)
    with _as_read_errors(path, data[:512]):
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageReadError(path, _bomb_reason(width, height))
            if min_size and min(width, height) < min_size:
                raise ImageReadError(path, f"{width}x{height} is smaller than the {min_size}px crop")
            image.load()
            array = _to_rgb8(image, path)
            if image.format in ("JPEG", "MPO"):
                problem = _jpeg_stream_problem(data)
                if problem:
                    raise ImageReadError(path, problem)
    if array.ndim != 3 or array.shape[2] != 3 or array.size == 0:
        raise ImageReadError(path, f"decoded to an unexpected shape {array.shape}")
    return np.ascontiguousarray(array)


def read_size(path, min_size: int = 0) -> tuple[int, int]:
    """(width, height) from the header alone, or ImageReadError: the cheap check before a long run."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise ImageReadError(path, f"broken link (to {os.readlink(path)}, which does not exist)")
    if not path.exists():
        raise ImageReadError(path, "file not found")
    if path.is_dir():
        raise ImageReadError(path, "is a folder, not an image file")
    if path.stat().st_size == 0:
        raise ImageReadError(path, "empty file (0 bytes)")
    with open(path, "rb") as handle:
        head = handle.read(512)
    with _as_read_errors(path, head):
        with Image.open(path) as image:
            width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageReadError(path, _bomb_reason(width, height))
    if min_size and min(width, height) < min_size:
        raise ImageReadError(path, f"{width}x{height} is smaller than the {min_size}px crop")
    return width, height


@dataclass
class ImageInfo:
    """Header facts about one file, read without decoding the pixels."""

    path: str
    format: str | None = None
    width: int | None = None
    height: int | None = None
    make: str | None = None
    model: str | None = None
    software: str | None = None
    jpeg_quality: int | None = None
    error: str | None = None
    creator_tool: str | None = None  # XMP CreatorTool / history softwareAgent, "; "-joined
    orientation: int | None = None  # EXIF orientation tag (not applied by read_image)


def _ijg_table(base: np.ndarray, quality: int) -> np.ndarray:
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    return np.clip((base * scale + 50) // 100, 1, 255)


# Annex K tables (ITU T.81), the basis of libjpeg's quality scaling, in natural (row-major) order.
_LUMA = np.array([
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
    49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99], dtype=np.int64)
_CHROMA = np.array([
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99] + [99] * 32, dtype=np.int64)
_IJG_LUMA = np.stack([_ijg_table(_LUMA, q) for q in range(1, 101)])  # (100, 64)
_IJG_CHROMA = np.stack([_ijg_table(_CHROMA, q) for q in range(1, 101)])
_ZIGZAG = np.array([
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6,
    7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31,
    39, 46, 53, 60, 61, 54, 47, 55, 62, 63])


def estimate_jpeg_quality(luma_table, chroma_table=None) -> int:
    """The libjpeg quality (1-100) whose scaled tables are closest to the file's (64 values each).

    Pillow has returned tables in zigzag order in some versions and in natural order in others
    (13 gives natural); both orders are tried and the better fit wins.
    """
    tables = [(luma_table, _IJG_LUMA)] + ([(chroma_table, _IJG_CHROMA)] if chroma_table is not None else [])
    errors = {"natural": np.zeros(100), "zigzag": np.zeros(100)}
    for table, reference in tables:
        values = np.asarray(list(table), dtype=np.int64).reshape(-1)
        if values.size != 64:
            raise ValueError("a JPEG quantisation table has 64 entries")
        errors["natural"] += np.abs(reference - values[None, :]).sum(axis=1)
        errors["zigzag"] += np.abs(reference[:, _ZIGZAG] - values[None, :]).sum(axis=1)
    best = min(errors.values(), key=lambda e: e.min())
    return int(np.argmin(best) + 1)


def _text(value) -> str | None:
    """An EXIF ASCII value as clean text: bytes decoded, cut at the first NUL, stripped."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).split("\x00")[0]
    text = "".join(c for c in text if c.isprintable()).strip()
    return text or None


_XMP_TOOL = re.compile(rb"(?:CreatorTool|softwareAgent)(?:=\"|>)([^\"<]{1,200})")


def _xmp_tools(image: Image.Image) -> str | None:
    packets = [image.info.get(key) for key in ("xmp", "XML:com.adobe.xmp")]
    tag_xmp = getattr(image, "tag_v2", {}).get(700) if hasattr(image, "tag_v2") else None
    packets.append(tag_xmp)
    tools: list[str] = []
    for packet in packets:
        if isinstance(packet, str):
            packet = packet.encode("utf-8", "replace")
        if isinstance(packet, (bytes, bytearray)):
            for match in _XMP_TOOL.findall(bytes(packet)):
                tool = match.decode("utf-8", "replace").strip()
                if tool and tool not in tools:
                    tools.append(tool)
    return "; ".join(tools) or None


def _jpeg_quality(image: Image.Image) -> int | None:
    tables = getattr(image, "quantization", None)
    if image.format not in ("JPEG", "MPO") or not tables:
        return None
    layer = getattr(image, "layer", None) or []
    luma_id = layer[0][3] if layer and layer[0][3] in tables else min(tables)
    chroma_ids = [c[3] for c in layer[1:] if c[3] in tables and c[3] != luma_id]
    return estimate_jpeg_quality(tables[luma_id], tables[chroma_ids[0]] if chroma_ids else None)


def read_info(path) -> ImageInfo:
    """Format, size, EXIF make/model/software, XMP tools and estimated JPEG quality; never raises:
    problems go in `.error` as the same reason read_image would give for the header."""
    info = ImageInfo(path=str(path))
    try:
        path = Path(path)
        with open(path, "rb") as handle:
            head = handle.read(512)
        if not head:
            raise ImageReadError(path, "empty file (0 bytes)")
        with _as_read_errors(path, head), Image.open(path) as image:
            info.format, (info.width, info.height) = image.format, image.size
            try:
                exif = image.getexif()
            except Exception:  # invalid EXIF must not hide the rest of the header
                exif = Image.Exif()
            info.make, info.model, info.software = (_text(exif.get(tag)) for tag in (0x010F, 0x0110, 0x0131))
            orientation = image.info.get("original_orientation") or exif.get(0x0112)  # pillow-heif resets EXIF
            info.orientation = int(orientation) if isinstance(orientation, int) and 1 <= orientation <= 8 else None
            info.creator_tool = _xmp_tools(image)
            info.jpeg_quality = _jpeg_quality(image)
    except ImageReadError as exc:
        info.error = exc.reason
    except FileNotFoundError:
        info.error = "file not found"
    except IsADirectoryError:
        info.error = "is a folder, not an image file"
    except Exception as exc:  # header parsing of odd files: report, never crash a batch
        info.error = f"cannot read header: {' '.join((str(exc) or type(exc).__name__).split())}"
    return info
