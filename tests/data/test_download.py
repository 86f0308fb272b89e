"""Checksum-verified downloads against a local http.server."""

from __future__ import annotations

import functools
import hashlib
import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from vaekit.config import DataConfig
from vaekit.data import idx as idx_module
from vaekit.data import load_data
from vaekit.data.download import download, mirrors
from vaekit.errors import DatasetNotFoundError, DownloadError

MNIST_DIR = Path("/work/shared/data/mnist")
PAYLOAD = b"vaekit fixture file\n" * 500


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass


def _serve(folder: Path) -> Iterator[str]:
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    served = tmp_path / "served"
    served.mkdir()
    (served / "fixture.bin").write_bytes(PAYLOAD)
    yield from _serve(served)


@pytest.fixture
def dead_url() -> str:
    with socket.socket() as s:  # a port nobody listens on once this closes
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/fixture.bin"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_good_checksum_writes_the_file(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "fixture.bin"
    assert download([server + "fixture.bin"], dest, _sha(PAYLOAD), timeout=5) == dest
    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["fixture.bin"]  # no temp file left


def test_bad_checksum_raises_and_leaves_nothing(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "fixture.bin"
    with pytest.raises(DownloadError, match="checksum"):
        download([server + "fixture.bin"], dest, "0" * 64, timeout=5)
    assert list(dest.parent.iterdir()) == []


def test_dead_server_is_dataset_not_found(dead_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "out" / "fixture.bin"
    with pytest.raises(DatasetNotFoundError) as e:
        download([dead_url], dest, _sha(PAYLOAD), timeout=5)
    msg = str(e.value)
    assert dead_url in msg and "--data-dir" in msg and "VAEKIT_DATA" in msg
    assert list(dest.parent.iterdir()) == []


def test_mirrors_are_tried_in_turn(server: str, dead_url: str, tmp_path: Path) -> None:
    dest = tmp_path / "fixture.bin"
    urls = [dead_url, server + "missing.bin", server + "fixture.bin"]  # refused, 404, good
    download(urls, dest, _sha(PAYLOAD), timeout=5)
    assert dest.read_bytes() == PAYLOAD


def test_mirror_env_replaces_official_mirrors(monkeypatch: pytest.MonkeyPatch) -> None:
    assert mirrors("mnist")[0].startswith("https://ossci-datasets.s3.amazonaws.com/")
    monkeypatch.setenv("VAEKIT_MIRROR", "http://a.example/x, http://b.example/")
    assert mirrors("mnist") == ["http://a.example/x/", "http://b.example/"]


@pytest.mark.skipif(not MNIST_DIR.is_dir(), reason="shared MNIST files not present")
def test_load_data_downloads_missing_mnist_into_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, isolated_env: Path
) -> None:
    monkeypatch.setattr(idx_module, "SYSTEM_DATA_DIR", tmp_path / "no-system")
    for base in _serve(MNIST_DIR):  # serves the real files, so the pinned sha256s match
        monkeypatch.setenv("VAEKIT_MIRROR", base)
        data = load_data(DataConfig(source="mnist", download=True, limit=100))
    cached = sorted(p.name for p in (isolated_env / "vaekit" / "mnist").iterdir())
    assert cached == sorted(p.name for p in MNIST_DIR.iterdir())
    assert len(data.train) == 100 and len(data.test) == 10_000
