"""Getting the public Kaggle challenge data through the official `kaggle` CLI, resumably and atomically."""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

from .datasets import LayoutError, read_kaggle

COMPETITION = "sp-society-camera-model-identification"


class DownloadError(RuntimeError):
    """The data could not be fetched or unpacked; str() is one line saying what to do."""


def _has_credentials(env=None) -> bool:
    """Where the kaggle CLI looks: KAGGLE_USERNAME+KAGGLE_KEY, an API token, or kaggle.json."""
    env = os.environ if env is None else env
    if env.get("KAGGLE_USERNAME") and env.get("KAGGLE_KEY") or env.get("KAGGLE_API_TOKEN"):
        return True
    folders = [Path(env["KAGGLE_CONFIG_DIR"])] if env.get("KAGGLE_CONFIG_DIR") else []
    home = Path(env.get("HOME") or Path.home())
    folders += [home / ".kaggle", home / ".config" / "kaggle"]
    return any((folder / name).is_file() for folder in folders for name in ("kaggle.json", "access_token"))


def _kaggle(*args: str) -> str:
    """Run the kaggle CLI; its stdout, or DownloadError with the CLI's last message."""
    try:
        done = subprocess.run(["kaggle", *args], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise DownloadError("the kaggle command is not installed: pip install kaggle") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr + "\n" + done.stdout).splitlines() if line.strip()]
        message = lines[-1].strip() if lines else f"exit status {done.returncode}"
        hint = " (accept the competition rules on its Kaggle page first)" if "403" in message else ""
        raise DownloadError(f"kaggle {' '.join(args[:2])} failed: {message}{hint}")
    return done.stdout


_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}


def _parse_size(text: str) -> tuple[int, int] | None:
    """(bytes, tolerance) from '123456' (exact) or an older CLI's rounded '2GB'."""
    text = text.strip()
    if text.isdigit():
        return int(text), 0
    match = re.fullmatch(r"([\d.]+)\s*([KMGT]?B)", text.upper())
    if not match:
        return None
    unit = _UNITS[match[2]]
    return int(float(match[1]) * unit), unit


def listed_sizes(competition: str = COMPETITION) -> dict[str, tuple[int, int]]:
    """{file name: (bytes, tolerance)} as `kaggle competitions files -v` lists them."""
    text = _kaggle("competitions", "files", "-c", competition, "-v")
    start = next((i for i, line in enumerate(text.splitlines()) if line.startswith("name,")), None)
    if start is None:
        return {}
    sizes = {}
    for row in csv.DictReader(io.StringIO("\n".join(text.splitlines()[start:]))):
        raw = row.get("totalBytes") or row.get("total_bytes") or row.get("size") or ""
        parsed = _parse_size(raw)
        if row.get("name") and parsed:
            sizes[row["name"]] = parsed
    return sizes


def _complete_zip(path: Path, expected: tuple[int, int] | None) -> bool:
    if not path.is_file():
        return False
    if expected is not None:
        return abs(path.stat().st_size - expected[0]) <= expected[1]
    try:  # no listed size: the central directory at the end of the file is missing from partial downloads
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def _extract_all(archive_path: Path, folder: Path) -> None:
    """Unzip, then unzip any zip inside (the challenge ships train.zip, test.zip, ... in one bundle)."""
    with zipfile.ZipFile(archive_path) as archive:
        for member in archive.namelist():
            if member.startswith("/") or ".." in Path(member).parts:
                raise DownloadError(f"{archive_path}: unsafe member name {member!r}")
        archive.extractall(folder)
        inner_zips = [folder / m for m in archive.namelist() if m.lower().endswith(".zip")]
    for inner in inner_zips:
        _extract_all(inner, inner.parent)
        inner.unlink()


def _layout_root(folder: Path) -> Path | None:
    """The folder holding train/: the extraction folder itself or one level below."""
    candidates = [folder] + sorted(p for p in folder.iterdir() if p.is_dir())
    return next((c for c in candidates if (c / "train").is_dir()), None)


def extract_kaggle_zip(zip_path, dest, name: str = COMPETITION) -> Path:
    """Unzip `zip_path` to dest/<name> atomically (temporary folder, then rename), check the layout."""
    zip_path, dest = Path(zip_path), Path(dest)
    final = dest / name
    dest.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=dest))
    try:
        try:
            _extract_all(zip_path, temporary)
        except (zipfile.BadZipFile, OSError) as exc:
            raise DownloadError(f"{zip_path}: cannot unzip ({exc}); delete it and download again") from None
        root = _layout_root(temporary)
        if root is None:
            raise DownloadError(f"{zip_path}: no train/ folder inside; not the camera-model challenge data")
        try:
            records = read_kaggle(root)
        except LayoutError as exc:
            raise DownloadError(f"{zip_path}: does not read as the kaggle layout: {exc}") from None
        if not any(r.split == "test" for r in records):
            raise DownloadError(f"{zip_path}: no test/ images inside; incomplete challenge data")
        if final.exists():
            shutil.rmtree(final)
        os.replace(root, final)
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
    return final


def _verified(folder: Path) -> bool:
    try:
        return folder.is_dir() and any(r.split == "test" for r in read_kaggle(folder))
    except LayoutError:
        return False


def download_kaggle(dest, competition: str = COMPETITION) -> Path:
    """Fetch the challenge data with the kaggle CLI into dest/<competition>/ and return that folder.

    Credentials come from the user's environment (~/.kaggle/kaggle.json or KAGGLE_USERNAME/KAGGLE_KEY).
    Resumable: an already unpacked and readable copy is returned as is; a zip whose size matches the
    listing is not fetched again.
    """
    dest = Path(dest)
    final = dest / competition
    if _verified(final):
        return final
    if shutil.which("kaggle") is None:
        raise DownloadError("the kaggle command is not installed: pip install kaggle")
    if not _has_credentials():
        raise DownloadError("no Kaggle credentials: put kaggle.json (Kaggle > Settings > Create New Token) "
                            "in ~/.kaggle/, or set KAGGLE_USERNAME and KAGGLE_KEY")
    dest.mkdir(parents=True, exist_ok=True)
    zip_path = dest / f"{competition}.zip"
    expected = listed_sizes(competition).get(zip_path.name)
    if not _complete_zip(zip_path, expected):
        _kaggle("competitions", "download", "-c", competition, "-p", str(dest), "--force")
        if not _complete_zip(zip_path, expected):
            raise DownloadError(f"{zip_path}: missing or incomplete after the download; run again")
    return extract_kaggle_zip(zip_path, dest, competition)
