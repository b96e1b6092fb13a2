"""Atomic file writes: a save either fully replaces the old file or leaves it untouched."""

from __future__ import annotations

import contextlib
import glob
import os
import stat
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path in the folder of ``path``, moved onto ``path`` on success.

    Parameters
    ----------
    path : str or PathLike
        The final destination. Its folder must exist.

    Yields
    ------
    Path
        A fresh temporary file path in the same folder (so the final rename is atomic).
        If the ``with`` block raises, the temporary file is deleted and ``path`` is unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_path(target) as tmp:
    ...     _ = tmp.write_text("hello")
    >>> target.read_text()
    'hello'
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"path: folder {str(folder)!r} does not exist")
    remove_stale_temporaries(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}{TEMPORARY_TAG}{os.getpid()}-", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


#: Marks this project's temporary files: ``.<name>.svnb-tmp-<pid>-<random>`` beside ``<name>``.
TEMPORARY_TAG = ".svnb-tmp-"
#: A temporary file older than this is stale even if its process id is alive again (reused).
STALE_SECONDS = 3600.0
_UMASK_LOCK = threading.Lock()


def _mode_for(path: Path) -> int:
    """The permission bits a save gives ``path``: its current ones, or what the umask allows a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        with _UMASK_LOCK:  # os.umask can only be read by setting it
            umask = os.umask(0o022)
            os.umask(umask)
        return 0o666 & ~umask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete temporary files a killed save of ``path`` left behind; return those removed.

    A temporary is stale when the process that made it is gone, or when it is older than
    :data:`STALE_SECONDS`.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    removed = []
    now = time.time()
    for candidate in folder.glob(f".{glob.escape(path.name)}{TEMPORARY_TAG}*"):
        pid_text = candidate.name[len(f".{path.name}{TEMPORARY_TAG}") :].split("-", 1)[0]
        try:
            stale = not pid_text.isdigit() or not _process_alive(int(pid_text))
            stale = stale or now - candidate.stat().st_mtime > STALE_SECONDS
            if stale:
                candidate.unlink()
                removed.append(candidate)
        except FileNotFoundError:
            continue
    return removed


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, then rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextlib.contextmanager
def folder_lock(path: str | os.PathLike) -> Iterator[None]:
    """Hold an advisory lock on the folder of ``path`` while inside (no lock file is left behind).

    Two processes saving into the same folder then check and write one after the other. Where
    ``fcntl`` is missing (Windows) the check still runs, without the lock.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
