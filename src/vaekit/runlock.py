"""One writer per run directory: an exclusive ``flock`` held for the life of the writing process.

Every command that writes a run directory (``train``, ``train --resume``, ``detect fit``,
``fit-sampler``) holds the lock in ``RUN/.vaekit.lock``; a second writer fails at once with a
message naming the holder (pid, host, command). The kernel drops the lock when the holder exits,
however it exits, so a killed run never leaves a stale lock behind. Readers (``sample``,
``evaluate``, ...) take no lock: every file is replaced atomically.

A new run goes only into a new or empty folder (``claim_run_dir(new=True)``): a folder holding
anything else is refused, so training never overwrites a user's files.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from vaekit.errors import OutputError, RunDirError, RunInUseError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks, one writer is the user's care
    fcntl = None  # type: ignore[assignment]

LOCK_FILE = ".vaekit.lock"
CONFIG = "config.json"


def is_stale_temporary(name: str) -> bool:
    """A ``.NAME.XXXX.tmp`` file an atomic write leaves behind only when killed mid-save."""
    return name.startswith(".") and name.endswith(".tmp")


@contextmanager
def claim_run_dir(path: str | Path, *, new: bool, what: str) -> Iterator[Path]:
    """Hold ``path``'s lock for the ``with`` block. ``new``: the path must be a new or empty folder
    (created here), else it must be an existing directory. Stale temporaries are removed once the
    lock is held (no other writer can be mid-save then). ``what`` names the holder's command."""
    path = Path(path)
    created = False
    if new:
        _check_new(path)
        created = not path.exists()
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutputError(f"cannot create the run directory {path}: {e.strerror or e}") from None
    elif not path.is_dir():
        raise RunDirError(f"{path} is not a directory; pass a run directory written by 'vaekit train'")
    fd = _lock(path, what)
    try:
        if new:
            _check_new(path, locked=True)  # a run may have been written between the check and the lock
        remove_stale_temporaries(path)
        yield path
    finally:
        try:
            if created and [e.name for e in path.iterdir()] == [LOCK_FILE]:  # failed before writing: leave no trace
                (path / LOCK_FILE).unlink()
                path.rmdir()
        except OSError:
            pass
        os.close(fd)  # closing the descriptor drops the lock


def remove_stale_temporaries(path: Path) -> None:
    for entry in path.iterdir():
        if is_stale_temporary(entry.name) and entry.is_file():
            entry.unlink(missing_ok=True)


def _check_new(path: Path, locked: bool = False) -> None:
    if path.is_symlink() and not path.exists():
        raise OutputError(f"--out {path} is a broken symbolic link; give a new or empty folder")
    if not path.exists():
        return
    if not path.is_dir():
        raise OutputError(f"--out {path} is a file, not a folder; give a new or empty folder for the run")
    entries = sorted(e.name for e in path.iterdir() if e.name != LOCK_FILE and not is_stale_temporary(e.name))
    holder = "" if locked else _holder_if_locked(path)
    if holder:
        raise RunInUseError(f"{path} is in use by {holder}; wait for it to finish or pick another --out")
    if CONFIG in entries:
        raise RunDirError(f"{path} already holds a run; continue it with --resume {path}, or pick another --out")
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise OutputError(
            f"--out {path} is a folder that is not empty and not a vaekit run (it holds {shown}); "
            "train into a new or empty folder so no file of yours is overwritten"
        )


def _lock(path: Path, what: str) -> int:
    """Open and lock ``path/.vaekit.lock`` without waiting; write who holds it."""
    lock_path = path / LOCK_FILE
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError as e:
        raise OutputError(f"cannot write in {path} (creating {LOCK_FILE}): {e.strerror or e}") from None
    if fcntl is None:  # pragma: no cover
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        holder = _read_holder(lock_path) or "another process"
        raise RunInUseError(f"{path} is in use by {holder}; wait for it to finish (or stop it) before writing this run") from None
    stamp = f"pid {os.getpid()} on {socket.gethostname()} ({what}, since {time.strftime('%Y-%m-%d %H:%M:%S')})"
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, stamp.encode(), 0)
    except OSError:  # a full disk: the lock still holds; only the holder's name is lost
        pass
    return fd


def _holder_if_locked(path: Path) -> str:
    """The holder's description when ``path`` is locked by another process, else ''."""
    lock_path = path / LOCK_FILE
    if fcntl is None or not lock_path.is_file():
        return ""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return ""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _read_holder(lock_path) or "another process"
    finally:
        os.close(fd)
    return ""


def _read_holder(lock_path: Path) -> str:
    try:
        text = lock_path.read_bytes()[:300].decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return text.splitlines()[0] if text else ""
