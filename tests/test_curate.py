"""Curation of scraped photos on generated JPEGs with known EXIF, quality, size and software."""
from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from camlib.curate import COLUMNS, KAGGLE_CLASS_MAP, curate, curate_to_csv, match_class
from camlib.io import list_images

DRESDEN_MAP = {"NIKON D70": "Nikon_D70", "NIKON D70s": "Nikon_D70s", "NIKON D200": "Nikon_D200"}


def photo(path, model="iPhone 6", make="Apple", software=None, quality=97, size=(64, 48), seed=0, xmp_tool=None,
          fmt="JPEG"):
    """A small photo with EXIF make/model/software (0x010F, 0x0110, 0x0131) and a known JPEG quality."""
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if software:
        exif[0x0131] = software
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3)).astype(np.uint8)
    options = {"exif": exif}
    if fmt == "JPEG":
        options["quality"] = quality
    if xmp_tool:
        options["xmp"] = f'<x:xmpmeta><rdf:Description xmp:CreatorTool="{xmp_tool}"/></x:xmpmeta>'.encode()
    Image.fromarray(pixels).save(path, fmt, **options)
    return path


@pytest.fixture()
def scraped(tmp_path):
    folder = tmp_path / "scraped"
    photo(folder / "a_iphone6.jpg", seed=1)
    photo(folder / "b_iphone6.jpg", seed=2)
    photo(folder / "c_iphone6_portrait.jpg", seed=3, size=(48, 64))
    photo(folder / "d_iphone6_plus.jpg", model="iPhone 6 Plus", seed=4)
    photo(folder / "e_nokia.jpg", make="Nokia", model="Lumia 1020", seed=5)
    photo(folder / "f_photoshop.jpg", software="Adobe Photoshop CC 2015 (Windows)", seed=6)
    photo(folder / "g_snapseed.jpg", software="SNAPSEED 2.0", seed=7)
    photo(folder / "h_lightroom_xmp.jpg", xmp_tool="Adobe Photoshop Lightroom 6.0", seed=8)
    photo(folder / "i_low_quality.jpg", quality=80, seed=9)
    photo(folder / "j_odd_size.jpg", size=(50, 40), seed=10)
    shutil.copy(folder / "a_iphone6.jpg", folder / "k_copy_of_a.jpg")
    data = (folder / "b_iphone6.jpg").read_bytes()
    (folder / "l_truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    photo(folder / "m_converted.png", fmt="PNG", seed=11)
    photo(folder / "n_nexus5x.jpg", make="LGE", model="Nexus 5X", seed=12, size=(80, 60))
    (folder / "o_empty.jpg").write_bytes(b"")
    return folder


def test_rules_in_order(scraped):
    table = curate(scraped)
    assert list(table.columns) == COLUMNS and len(table) == len(list_images(scraped)) == 15
    by_name = {p.split("/")[-1]: row for p, row in zip(table.path, table.to_dict("records"))}
    reason = {name: row["reason"] for name, row in by_name.items()}
    assert {n for n, r in by_name.items() if r["decision"] == "accept"} == {
        "a_iphone6.jpg", "b_iphone6.jpg", "c_iphone6_portrait.jpg"}  # rotated size (h, w) accepted
    assert all((r["decision"] == "accept") == (r["reason"] == "") for r in by_name.values())
    assert reason["d_iphone6_plus.jpg"] == "unknown camera model" and pd.isna(by_name["d_iphone6_plus.jpg"]["class"])
    assert reason["e_nokia.jpg"] == "unknown camera model"
    assert reason["f_photoshop.jpg"].startswith("edited with Adobe Photoshop CC 2015")
    assert "SNAPSEED" in reason["g_snapseed.jpg"] and "Lightroom" in reason["h_lightroom_xmp.jpg"]
    assert reason["i_low_quality.jpg"] == "JPEG quality 80 < 95"
    assert by_name["i_low_quality.jpg"]["jpeg_quality"] == 80
    assert reason["j_odd_size.jpg"].startswith("size 50x40 is not a iPhone-6 size")
    assert reason["k_copy_of_a.jpg"] == f"duplicate of {scraped / 'a_iphone6.jpg'}"
    assert "truncated" in reason["l_truncated.jpg"]
    assert reason["m_converted.png"].startswith("not a JPEG")
    assert reason["n_nexus5x.jpg"].startswith("size 80x60")  # seen once: not a learned size
    assert "empty file" in reason["o_empty.jpg"]
    assert by_name["n_nexus5x.jpg"]["class"] == "LG-Nexus-5x"
    assert (by_name["a_iphone6.jpg"]["make"], by_name["a_iphone6.jpg"]["width"]) == ("Apple", 64)


def test_given_sizes_and_no_learning(scraped):
    given = curate(scraped, allowed_sizes={"iPhone-6": [(50, 40), (64, 48)], "LG-Nexus-5x": [(60, 80)]})
    accepted = set(given.path[given.decision == "accept"].str.split("/").str[-1])
    assert accepted == {"a_iphone6.jpg", "b_iphone6.jpg", "c_iphone6_portrait.jpg", "j_odd_size.jpg", "n_nexus5x.jpg"}
    unchecked = curate(scraped, learn_sizes=False, min_quality=70)
    accepted = set(unchecked.path[unchecked.decision == "accept"].str.split("/").str[-1])
    assert {"j_odd_size.jpg", "n_nexus5x.jpg", "i_low_quality.jpg"} <= accepted


@pytest.mark.parametrize("model, expected", [
    ("iPhone 6", "iPhone-6"), ("iPhone 6 Plus", None), ("iPhone 6s", None), ("IPHONE 4S", "iPhone-4s"),
    ("iPhone 4", None), ("Nexus 5X", "LG-Nexus-5x"), ("Nexus 5", None), ("NEX-7", "Sony-NEX-7"),
    ("HTC One", "HTC-1-M7"), ("HTC One_M8", None), ("XT1080", "Motorola-Droid-Maxx"), ("Nexus 6", "Motorola-Nexus-6"),
    ("Nexus 6P", None), ("XT1060", "Motorola-X"), ("XT1053", "Motorola-X"), ("XT1058", "Motorola-X"),
    ("SM-N9005", "Samsung-Galaxy-Note3"), ("SAMSUNG-SM-N900A", "Samsung-Galaxy-Note3"),
    ("GT-I9505", "Samsung-Galaxy-S4"), ("SCH-I545", "Samsung-Galaxy-S4"), ("SAMSUNG-SGH-I337", "Samsung-Galaxy-S4"),
    ("Lumia 1020", None), (None, None),
])
def test_kaggle_class_map(model, expected):
    assert match_class("Any", model, KAGGLE_CLASS_MAP)[1] == expected


def test_longest_or_exact_key_wins_whatever_the_order():
    for class_map in (DRESDEN_MAP, dict(reversed(list(DRESDEN_MAP.items())))):
        assert match_class("NIKON CORPORATION", "NIKON D70s", class_map) == (True, "Nikon_D70s")
        assert match_class("NIKON CORPORATION", "NIKON D70", class_map) == (True, "Nikon_D70")
    intended = {"iPhone 6": "iPhone-6", "iPhone 6 Plus": "iPhone-6"}
    assert match_class("Apple", "iPhone 6 Plus", intended) == (True, "iPhone-6")
    assert match_class("Canon", "Canon EOS 40D", {"canon": "Canon"}) == (True, "Canon")  # make or model
    assert match_class("Canon", "EOS 40D", {"CANON": "Canon"}) == (True, "Canon")
    assert match_class("Canon", "EOS 40D", {"Nikon": "Nikon"}) == (False, None)


def test_curate_to_csv_is_atomic(scraped, tmp_path, monkeypatch):
    out = tmp_path / "reports" / "curation.csv"
    table = curate_to_csv(scraped, out)
    back = pd.read_csv(out, keep_default_na=False)
    assert list(back.columns) == COLUMNS and len(back) == len(table)
    assert list(back.decision) == list(table.decision) and list(back.reason) == list(table.reason)

    def broken(*args, **kw):
        raise OSError("disk full")
    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    with pytest.raises(OSError, match="disk full"):
        curate_to_csv(scraped, out)
    assert pd.read_csv(out, keep_default_na=False).equals(back)  # the old file is intact
    assert sorted(p.name for p in out.parent.iterdir()) == ["curation.csv"]  # no temporary left behind


def test_exif_samples(exif_samples):
    table = curate(exif_samples)
    assert len(table) == len(list_images(exif_samples)) and table.path.is_unique
    assert set(table.decision) <= {"accept", "reject"} and (table.reason[table.decision == "reject"] != "").all()
    reasons = dict(zip(table.path.str.replace(str(exif_samples) + "/", "", regex=False), table.reason))
    assert "corrupt" in reasons["jpg/corrupted.jpg"]
    assert reasons["jpg/Canon_40D.jpg"] == "unknown camera model"
    accepted = set(table.path[table.decision == "accept"].str.split("/").str[-1])
    assert accepted == {"iphone_hdr_NO.jpg", "iphone_hdr_YES.jpg"}  # the only Kaggle-class camera (iPhone 6, q96)

    by_make = curate(exif_samples, class_map={"Canon": "Canon", "NIKON": "Nikon"}, min_quality=0)
    reasons = dict(zip(by_make.path.str.split("/").str[-1], by_make.reason))
    assert reasons["Canon_40D.jpg"] == "edited with GIMP 2.4.5"
    assert reasons["32-lens_data.jpeg"] == "edited with GIMP 2.8.10"


def test_dresden_models_and_quality(dresden_nikon):
    table = curate(dresden_nikon, class_map=DRESDEN_MAP, min_quality=90)
    expected = table.path.map(lambda p: re.match(r"(.+)_\d+_\d+$", p.split("/")[-1].rsplit(".", 1)[0])[1])
    assert (table["class"] == expected).all()  # 'NIKON D70' never swallows 'NIKON D70s'
    assert (table.model.str.replace("NIKON ", "Nikon_") == table["class"]).all()
    flatfield = table[table.path.str.contains("/flatfield/")]
    assert (flatfield.decision == "accept").all() and len(flatfield) == 60
    low = table[table.jpeg_quality < 90]
    assert len(low) and (low.decision == "reject").all() and low.reason.str.startswith("JPEG quality").all()
    assert set(table.reason) - {""} == set(low.reason)
