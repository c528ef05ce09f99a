"""Finding a dataset's files: an explicit path, ``$FASTNN_DATA``, the per-user cache, and as a
last resort a download into the cache, checked against published digests and renamed into
place atomically (a half-downloaded file is never taken for a whole one)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path


def cache_dir() -> Path:
    """``$FASTNN_CACHE``, else ``$XDG_CACHE_HOME/fastnn``, else ``~/.cache/fastnn``."""
    if os.environ.get("FASTNN_CACHE"):
        return Path(os.environ["FASTNN_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fastnn"


def file_digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _holds_all(folder: Path, files) -> bool:
    return all((folder / name).is_file() for name in files)


def _verified(folder: Path, files) -> bool:
    return _holds_all(folder, files) and all(
        file_digest(folder / name, algorithm) == digest for name, (algorithm, digest) in files.items())


def _download(url: str, target: Path, algorithm: str, digest: str, timeout: float) -> None:
    """url -> target, through a temporary file in the same folder and an atomic rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".part", dir=target.parent)
    try:
        h = hashlib.new(algorithm)
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != digest:
            raise ValueError(f"{url}: {algorithm} {h.hexdigest()} does not match the published {digest}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def find(dataset: str, files: dict, mirrors, path=None, download: bool = True, timeout: float = 30.0) -> Path:
    """The folder holding every file of ``files`` ({name: (hash algorithm, hex digest)}).

    Looked for, in order: ``path`` (when given, only there); ``$FASTNN_DATA/<dataset>`` and
    ``$FASTNN_DATA``; ``cache_dir()/datasets/<dataset>`` (digests checked); then downloaded
    from the first mirror that answers into that cache folder."""
    op = f"{dataset}.load_data"
    if path is not None:
        folder = Path(path)
        if _holds_all(folder, files):
            return folder
        raise FileNotFoundError(f"{op}: {folder} does not hold {', '.join(files)}")
    tried = []
    if os.environ.get("FASTNN_DATA"):
        root = Path(os.environ["FASTNN_DATA"])
        for folder in (root / dataset, root):
            tried.append(str(folder))
            if _holds_all(folder, files):
                return folder
    cached = cache_dir() / "datasets" / dataset
    tried.append(str(cached))
    if _verified(cached, files):
        return cached
    if not download:
        raise FileNotFoundError(f"{op}: the files ({', '.join(files)}) were not found in {', '.join(tried)}, "
                                "and download=False")
    errors = []
    for name, (algorithm, digest) in files.items():
        target = cached / name
        if target.is_file() and file_digest(target, algorithm) == digest:
            continue
        for mirror in mirrors:
            try:
                _download(mirror + name, target, algorithm, digest, timeout)
                break
            except (urllib.error.URLError, OSError, ValueError) as exc:
                errors.append(f"{mirror}{name}: {exc}")
        else:
            raise FileNotFoundError(
                f"{op}: could not find or download {name}. Looked in {', '.join(tried)}; downloads failed "
                f"({'; '.join(errors[-len(mirrors):])}). Put the four files ({', '.join(files)}) in a folder and "
                f"pass path=, or set FASTNN_DATA to it, or copy them to {cached}.")
    return cached
