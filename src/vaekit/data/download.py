"""Checksum-verified downloads of the standard data files.

A file is streamed into a temporary file next to its destination, its sha256 checked, and only
then renamed into place, so a killed or failed download never leaves a half-written file under
the real name. ``VAEKIT_MIRROR`` (one or more base URLs, space or comma separated) replaces the
official mirrors, for a local copy or for tests.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import secrets
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vaekit.errors import DatasetNotFoundError, DownloadError

MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
    ),
    "fashion-mnist": ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    "binarized-mnist": ("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",),
}

# stem -> (remote file name, sha256 of that file). MNIST and binarized MNIST: see
# shared/data/SOURCES.md. Fashion-MNIST: the official files (md5 8d4fb7e6..., as torchvision
# pins). Debian's dataset-fashion-mnist repacks the gzip header (no file name, another mtime),
# so its .gz files hold the same data but do not have these hashes.
REMOTE_FILES: dict[str, dict[str, tuple[str, str]]] = {
    "mnist": {
        "train-images-idx3-ubyte": (
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        ),
        "train-labels-idx1-ubyte": (
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        ),
        "t10k-images-idx3-ubyte": (
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        ),
        "t10k-labels-idx1-ubyte": (
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        ),
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte": (
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        ),
        "train-labels-idx1-ubyte": (
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        ),
        "t10k-images-idx3-ubyte": (
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        ),
        "t10k-labels-idx1-ubyte": (
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
        ),
    },
    "binarized-mnist": {  # uncompressed .amat text files
        "binarized_mnist_train.amat": (
            "binarized_mnist_train.amat",
            "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
        ),
        "binarized_mnist_valid.amat": (
            "binarized_mnist_valid.amat",
            "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
        ),
        "binarized_mnist_test.amat": (
            "binarized_mnist_test.amat",
            "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
        ),
    },
}

_CHUNK = 1 << 20


class _Truncated(OSError):
    """The server closed the connection before sending Content-Length bytes."""


def mirrors(name: str) -> list[str]:
    """Base URLs for `name`: $VAEKIT_MIRROR when set, else the official mirrors."""
    env = os.environ.get("VAEKIT_MIRROR", "").replace(",", " ").split()
    bases = env or list(MIRRORS.get(name, ()))
    return [b if b.endswith("/") else b + "/" for b in bases]


def fetch(name: str, stem: str, dest_dir: Path, *, progress: bool = False) -> Path:
    """Download the file `stem` of dataset `name` into `dest_dir`; return its path."""
    remote, sha256 = REMOTE_FILES[name][stem]
    return download([base + remote for base in mirrors(name)], dest_dir / remote, sha256, progress=progress)


def download(
    url_list: Sequence[str],
    dest: str | Path,
    sha256: str,
    *,
    timeout: float = 30.0,
    progress: bool = False,
) -> Path:
    """Fetch the first URL that works into `dest`, verified against `sha256`.

    Mirrors are tried in turn. If every mirror fails to connect -> :class:`DatasetNotFoundError`;
    if a mirror served a file with the wrong checksum and none served the right one ->
    :class:`DownloadError`. Either way no file (temporary or final) is left behind.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DownloadError(f"cannot create {dest.parent} to download into: {e}") from e
    failures: list[str] = []
    mismatches: list[str] = []
    for url in url_list:
        try:
            tmp, digest = _fetch_to_temp(url, dest, timeout, progress)
        except (OSError, http.client.HTTPException, ValueError) as e:
            failures.append(f"{url}: {_reason(e)}")
            continue
        if digest != sha256.lower():
            tmp.unlink(missing_ok=True)
            mismatches.append(f"{url} gave sha256 {digest}")
            continue
        os.replace(tmp, dest)  # atomic: dest is either absent or complete
        return dest

    if mismatches:
        raise DownloadError(
            f"{dest.name}: checksum mismatch, expected sha256 {sha256}; "
            + "; ".join(mismatches)
            + ". Nothing was kept. The mirror may be serving a different file: "
            "fetch it by hand and pass --data-dir, or set VAEKIT_MIRROR to another mirror."
        )
    tried = "; ".join(failures) if failures else "no mirror URLs"
    raise DatasetNotFoundError(
        f"could not download {dest.name} (tried {tried}); without network access, place {dest.name} (gzipped or not) "
        f"in {dest.parent}, or in a folder passed with --data-dir (data.data_dir) or set in VAEKIT_DATA"
    )


def _fetch_to_temp(url: str, dest: Path, timeout: float, progress: bool) -> tuple[Path, str]:
    """Stream `url` into a temporary file beside `dest`; return (temp path, sha256 hex)."""
    request = urllib.request.Request(url, headers={"User-Agent": "vaekit"})
    tmp = dest.parent / f".{dest.name}.{secrets.token_hex(4)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # the user's umask, as for any file
    digest = hashlib.sha256()
    done = False
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(request, timeout=timeout) as resp:
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            bar = _progress_bar(total, dest.name) if progress else None
            got = 0
            while chunk := resp.read(_CHUNK):
                f.write(chunk)
                digest.update(chunk)
                got += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
            if total is not None and got != total:
                raise _Truncated(f"connection closed after {got} of {total} bytes")
            f.flush()
            os.fsync(f.fileno())
        done = True
        return tmp, digest.hexdigest()
    finally:
        if not done:
            tmp.unlink(missing_ok=True)


def _progress_bar(total: int | None, desc: str) -> Any:
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, leave=False)


def _reason(e: BaseException) -> str:
    reason = getattr(e, "reason", None)  # URLError wraps the socket error
    return str(reason if reason is not None else e) or type(e).__name__
