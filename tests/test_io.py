"""The one reader: every file either decodes to stored-grid uint8 RGB or fails with one clear line."""
from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from camlib import io as camio
from camlib.io import (
    HEIF_AVAILABLE, ImageInfo, ImageReadError, estimate_jpeg_quality, is_image_path, list_images, read_image,
    read_info, read_size,
)

RNG = np.random.default_rng(7)


def smooth_rgb(height=64, width=96) -> np.ndarray:
    """A smooth colour image (JPEG-friendly) with some texture."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [np.sin(x / 7.0) * 60 + 120, np.cos(y / 5.0) * 60 + 120, (x + y) % 97 + 80]
    noisy = np.stack(channels, axis=2) + RNG.normal(0, 4, (height, width, 3))
    return np.clip(noisy, 0, 255).astype(np.uint8)


def jpeg_bytes(array, **kw) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, "JPEG", **kw)
    return buffer.getvalue()


def expect_error(path, fragment: str = "", **kw) -> ImageReadError:
    with pytest.raises(ImageReadError) as caught:
        read_image(path, **kw)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert "\n" not in message
    assert fragment.lower() in caught.value.reason.lower(), message
    return caught.value


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims width x height pixels but carries (almost) no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00")) + chunk(b"IEND", b"")


def tiff_header_only(width: int, height: int) -> bytes:
    """A little-endian TIFF whose one directory claims width x height 8-bit RGB pixels."""
    entries = [(256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 2),
               (273, 4, 1, 8), (277, 3, 1, 3), (278, 4, 1, height), (279, 4, 1, 3)]
    directory = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHII", tag, kind, count, value) if kind == 4 else struct.pack("<HHIHH", tag, kind, count, value, 0)
        for tag, kind, count, value in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 16) + b"\x00" * 8 + directory


# --- good files of every kind -------------------------------------------------------------------------

def test_rgb_jpeg_loads_as_uint8_rgb(tmp_path):
    path = tmp_path / "photo.jpg"
    path.write_bytes(jpeg_bytes(smooth_rgb(), quality=95))
    image = read_image(path)
    assert image.shape == (64, 96, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
    assert np.abs(image.astype(int) - smooth_rgb().astype(int)).mean() < 12


def test_grayscale_and_palette_and_bilevel_become_rgb(tmp_path):
    gray = smooth_rgb()[..., 0]
    Image.fromarray(gray).save(tmp_path / "gray.png")
    image = read_image(tmp_path / "gray.png")
    assert image.shape == (64, 96, 3)
    assert (image[..., 0] == gray).all() and (image[..., 1] == gray).all() and (image[..., 2] == gray).all()

    palette = Image.fromarray(smooth_rgb()).quantize(16)
    palette.save(tmp_path / "palette.png")
    assert (read_image(tmp_path / "palette.png") == np.asarray(palette.convert("RGB"))).all()

    Image.fromarray(gray > 128).save(tmp_path / "bilevel.png")
    assert set(np.unique(read_image(tmp_path / "bilevel.png"))) <= {0, 255}


def test_rgba_drops_alpha_without_compositing(tmp_path):
    rgb = smooth_rgb()
    alpha = np.zeros(rgb.shape[:2], np.uint8)  # fully transparent: compositing would change the colours
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "rgba.png")
    assert (read_image(tmp_path / "rgba.png") == rgb).all()


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    cmyk = Image.new("CMYK", (32, 24), (0, 255, 255, 0))  # pure red in CMYK
    cmyk.save(tmp_path / "cmyk.jpg", quality=95)
    image = read_image(tmp_path / "cmyk.jpg")
    assert image.shape == (24, 32, 3)
    red, green, blue = image.reshape(-1, 3).mean(axis=0)
    assert red > 200 and green < 50 and blue < 50


def test_16_bit_png_and_tiff_are_scaled_to_8_bit(tmp_path):
    values = RNG.integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    expected_gray = np.round(values[..., 0] / 65535 * 255).astype(int)

    Image.fromarray(values[..., 0]).save(tmp_path / "gray16.png")
    tifffile.imwrite(tmp_path / "gray16.tif", values[..., 0])
    for name in ("gray16.png", "gray16.tif"):
        image = read_image(tmp_path / name)
        assert image.dtype == np.uint8 and image.shape == (20, 30, 3)
        assert np.abs(image[..., 1].astype(int) - expected_gray).max() <= 1, name

    tifffile.imwrite(tmp_path / "rgb16.tif", values, photometric="rgb")
    image = read_image(tmp_path / "rgb16.tif")
    assert image.shape == (20, 30, 3)
    assert np.abs(image.astype(int) - values.astype(int) / 257).max() <= 1.01


def test_exif_orientation_is_not_applied(tmp_path):
    rgb = smooth_rgb(40, 100)  # stored landscape, tagged "rotate 90 CW to display"
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(rgb).save(tmp_path / "rotated.jpg", quality=95, exif=exif)
    Image.fromarray(rgb).save(tmp_path / "rotated.png", exif=exif)
    assert read_info(tmp_path / "rotated.jpg").orientation == 6
    assert read_image(tmp_path / "rotated.jpg").shape == (40, 100, 3)
    assert (read_image(tmp_path / "rotated.png") == rgb).all()


def test_paths_with_spaces_and_unicode(tmp_path):
    folder = tmp_path / "dossier été" / "東京 photos"
    folder.mkdir(parents=True)
    path = folder / "ämage 1 (copy).JPG"
    path.write_bytes(jpeg_bytes(smooth_rgb()))
    assert read_image(path).shape == (64, 96, 3)
    assert read_info(path).error is None
    assert list_images(tmp_path) == [path]
    assert is_image_path(path) and not is_image_path(folder / "notes.txt")


def test_min_size(tmp_path):
    path = tmp_path / "small.png"
    Image.fromarray(smooth_rgb(20, 30)).save(path)
    assert read_image(path, min_size=20).shape == (20, 30, 3)
    expect_error(path, "smaller than the 32px", min_size=32)
    with pytest.raises(ImageReadError):
        read_size(path, min_size=32)


# --- broken files -------------------------------------------------------------------------------------

def test_zero_byte_missing_folder_text_and_html(tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    expect_error(tmp_path / "empty.jpg", "empty file")
    expect_error(tmp_path / "missing.jpg", "not found")
    (tmp_path / "folder.jpg").mkdir()
    expect_error(tmp_path / "folder.jpg", "folder")
    (tmp_path / "notes.jpg").write_text("this is not a photo\nsecond line\n")
    expect_error(tmp_path / "notes.jpg", "not an image")
    (tmp_path / "page.jpg").write_text("<!DOCTYPE html><html><body>404</body></html>")
    expect_error(tmp_path / "page.jpg", "HTML page")
    (tmp_path / "noise.png").write_bytes(RNG.integers(0, 256, 2000).astype(np.uint8).tobytes())
    expect_error(tmp_path / "noise.png")


@pytest.mark.parametrize("keep", [0.98, 0.6, 0.2, 0.02])
def test_truncated_jpeg_is_an_error_not_grey_fill(tmp_path, keep):
    data = jpeg_bytes(smooth_rgb(256, 256), quality=95)
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[:int(len(data) * keep)])
    expect_error(path)


def test_damaged_jpeg_data_is_detected(tmp_path):
    """Damage libjpeg only warns about (and Pillow hides): a chunk lost, a dropout of 0xFF bytes."""
    data = jpeg_bytes(smooth_rgb(256, 256), quality=95, restart_marker_blocks=4)
    middle = len(data) // 2
    (tmp_path / "lost.jpg").write_bytes(data[:middle] + data[middle + 3000:])
    expect_error(tmp_path / "lost.jpg", "corrupt")
    dropout = bytearray(data)
    dropout[middle:middle + 2048] = b"\xff" * 2048
    (tmp_path / "dropout.jpg").write_bytes(bytes(dropout))
    expect_error(tmp_path / "dropout.jpg")


@pytest.mark.parametrize("options", [{}, {"progressive": True}, {"subsampling": 0}, {"subsampling": 1},
                                     {"restart_marker_rows": 1}, {"progressive": True, "restart_marker_blocks": 3}])
def test_intact_jpeg_variants_pass_the_damage_check(tmp_path, options):
    path = tmp_path / "intact.jpg"
    path.write_bytes(jpeg_bytes(smooth_rgb(100, 130), quality=90, **options))
    assert read_image(path).shape == (100, 130, 3)
    gray = tmp_path / "intact_gray.jpg"
    gray.write_bytes(jpeg_bytes(smooth_rgb(100, 130)[..., 0], quality=90, **options))
    assert read_image(gray).shape == (100, 130, 3)


@pytest.mark.parametrize("compression", [None, "tiff_deflate", "tiff_lzw"])
@pytest.mark.parametrize("keep", [0.9, 0.5, 0.05])
def test_truncated_tiff_is_an_error(tmp_path, compression, keep):
    whole = tmp_path / "whole.tif"
    Image.fromarray(smooth_rgb(128, 128)).save(whole, compression=compression)
    data = whole.read_bytes()
    path = tmp_path / "cut.tif"
    path.write_bytes(data[:int(len(data) * keep)])
    expect_error(path)


def test_corrupt_tiff_directory(tmp_path):
    path = tmp_path / "bad.tif"
    path.write_bytes(b"II*\x00" + struct.pack("<I", 10_000) + b"\x00" * 64)  # directory offset past the end
    expect_error(path, "TIFF")


# --- formats and guards -------------------------------------------------------------------------------

@pytest.mark.skipif(HEIF_AVAILABLE, reason="pillow-heif is installed: HEIC decodes")
def test_heic_without_decoder_names_the_package(tmp_path):
    path = tmp_path / "IMG_0001.HEIC"
    path.write_bytes(struct.pack(">I", 24) + b"ftypheic" + b"\x00\x00\x00\x00mif1heic" + b"\x00" * 64)
    expect_error(path, "pip install pillow-heif")
    assert "pip install pillow-heif" in read_info(path).error
    disguised = tmp_path / "really_heic.jpg"  # the content decides, not the extension
    disguised.write_bytes(path.read_bytes())
    expect_error(disguised, "pip install pillow-heif")


def test_decompression_bomb_header_is_refused_without_allocating(tmp_path):
    for name, data in (("huge.png", png_header_only(30000, 30000)), ("huge.tif", tiff_header_only(30000, 30000))):
        path = tmp_path / name
        path.write_bytes(data)
        expect_error(path, "decompression-bomb")
        with pytest.raises(ImageReadError, match="decompression-bomb"):
            read_size(path)
        assert "decompression-bomb" in read_info(path).error or read_info(path).width == 30000


def test_max_pixels_is_the_limit(tmp_path, monkeypatch):
    path = tmp_path / "photo.png"
    Image.fromarray(smooth_rgb(20, 30)).save(path)
    monkeypatch.setattr(camio, "MAX_PIXELS", 600)
    assert read_image(path).shape == (20, 30, 3)
    monkeypatch.setattr(camio, "MAX_PIXELS", 599)
    expect_error(path, "599-pixel limit")


def test_read_info_never_raises(tmp_path):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0131] = "Apple", "iPhone 6\x00junk", "Adobe Photoshop CC"
    Image.fromarray(smooth_rgb()).save(tmp_path / "good.jpg", quality=90, exif=exif)
    info = read_info(tmp_path / "good.jpg")
    assert isinstance(info, ImageInfo) and info.error is None
    assert (info.format, info.width, info.height) == ("JPEG", 96, 64)
    assert (info.make, info.model, info.software, info.jpeg_quality) == ("Apple", "iPhone 6", "Adobe Photoshop CC", 90)

    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.jpg").write_text("hello")
    (tmp_path / "bad_exif.jpg").write_bytes(jpeg_bytes(smooth_rgb())[:2] + b"\xff\xe1\x00\x10Exif\x00\x00MM\x00*\xff\xff\xff\xff"
                                            + jpeg_bytes(smooth_rgb())[2:])
    for path in [tmp_path / "empty.jpg", tmp_path / "text.jpg", tmp_path / "missing.jpg", tmp_path, None]:
        info = read_info(path)
        assert info.error and "\n" not in info.error, path
    assert read_info(tmp_path / "bad_exif.jpg").width == 96


def test_xmp_creator_tool_is_read(tmp_path):
    xmp = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
           b'xmp:CreatorTool="Adobe Lightroom 6.0"/></rdf:RDF></x:xmpmeta>')
    Image.fromarray(smooth_rgb()).save(tmp_path / "xmp.jpg", xmp=xmp)
    assert read_info(tmp_path / "xmp.jpg").creator_tool == "Adobe Lightroom 6.0"


# --- JPEG quality -------------------------------------------------------------------------------------

def test_pillow_table_order_is_handled():
    # Pillow 13 returns natural (row-major) order; older versions gave zigzag. Both must work.
    table = np.asarray(Image.open(io.BytesIO(jpeg_bytes(smooth_rgb(), quality=50))).quantization[0])
    assert table[:8].tolist() == [16, 11, 10, 16, 24, 40, 51, 61]
    assert estimate_jpeg_quality(table) == 50
    assert estimate_jpeg_quality(table[camio._ZIGZAG]) == 50
    with pytest.raises(ValueError):
        estimate_jpeg_quality(table[:10])


@pytest.mark.parametrize("subsampling", [0, 2], ids=["4:4:4", "4:2:0"])
def test_estimated_quality_within_2(subsampling):
    image = smooth_rgb(32, 32)
    for quality in range(50, 101):
        data = jpeg_bytes(image, quality=quality, subsampling=subsampling)
        with Image.open(io.BytesIO(data)) as decoded:
            assert decoded.layer[0][1:3] == ((1, 1) if subsampling == 0 else (2, 2))
            tables = decoded.quantization
        assert abs(estimate_jpeg_quality(tables[0]) - quality) <= 2, quality
        assert abs(estimate_jpeg_quality(tables[0], tables[1]) - quality) <= 2, quality


def test_read_info_quality(tmp_path):
    for quality in (60, 85, 97):
        path = tmp_path / f"q{quality}.jpg"
        path.write_bytes(jpeg_bytes(smooth_rgb(), quality=quality, subsampling=2))
        assert abs(read_info(path).jpeg_quality - quality) <= 2


# --- the real odd files -------------------------------------------------------------------------------

def test_exif_samples_end_to_end(exif_samples, capfd):
    paths = list_images(exif_samples)
    assert len(paths) >= 90
    outcomes = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for path in paths:
            try:
                image = read_image(path)
                assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
                outcomes[path.relative_to(exif_samples).as_posix()] = image.shape
            except ImageReadError as exc:  # any other exception fails the test
                assert str(exc).startswith(f"{path}: ") and "\n" not in str(exc)
                outcomes[path.relative_to(exif_samples).as_posix()] = exc.reason
            info = read_info(path)
            assert info.error is None or "\n" not in info.error
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == ""
    assert not caught, [str(w.message) for w in caught]

    assert "restart" in outcomes["jpg/corrupted.jpg"] or "corrupt" in outcomes["jpg/corrupted.jpg"]
    for name in ("heic/IMG_5195.HEIC", "heic/mobile/iphone_13_pro_max.HEIC"):
        assert isinstance(outcomes[name], tuple) if HEIF_AVAILABLE else "pip install pillow-heif" in outcomes[name]
    # orientation samples: the stored grid, whatever the EXIF tag says
    for tag in range(1, 9):
        assert outcomes[f"jpg/orientation/landscape_{tag}.jpg"][:2] == ((450, 600) if tag <= 4 else (600, 450))
    loaded = [v for v in outcomes.values() if isinstance(v, tuple)]
    assert len(loaded) >= 85
