"""Writing outputs so that nothing is ever half-written: one helper, a file and a directory form, and a lock.

Every output smolthink writes (a data build, a training run's final model, an export, a converted model in the
cache, a manifest or marker) is built under a temporary name beside its final path, fsynced, and moved into place
in one step; a failure or a kill leaves the old output (or none) and a temporary that the next run removes:

    with atomic_output(out, directory=True) as tmp:   # or directory=False for a file
        write_everything_into(tmp)
    # here `out` is complete, or the with-block raised and `out` is as it was

`locked(path)` serialises processes that would build the same output at once (two commands converting the
embedded model into the cache, ranks of a launcher): the second waits, then finds the first one's result.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

_STALE_TEMP_S = 3600  # a temporary untouched this long belongs to a dead process


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: Path) -> None:
    for folder, _, files in os.walk(root):
        for name in files:
            fsync_path(Path(folder) / name)
        fsync_path(Path(folder))


def temp_name(final: Path) -> Path:
    """A unique name beside `final` for building it; hidden, and recognisable by `remove_leftovers`."""
    # Not tempfile.mkstemp/mkdtemp: those create owner-only files, and the cache should follow the umask.
    return final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex}")


def _remove(path: Path) -> None:
    # ignore_errors / missing_ok: a concurrent remove_leftovers may be deleting the same path.
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def replace_path(tmp: Path, final: Path) -> None:
    """Put the finished file or directory `tmp` at `final`, durably, replacing what is there.

    os.replace swaps a file for a file atomically but cannot replace a directory that has files in it, nor a file
    with a directory: the old one is moved aside in one step first and deleted once the new one is in place, so
    `final` is never missing its old or its new content.
    """
    if final.exists() and (final.is_dir() or tmp.is_dir()):
        trash = final.with_name(f".{final.name}.old-{uuid.uuid4().hex}")
        os.rename(final, trash)
        os.replace(tmp, final)
        _remove(trash)
    else:
        os.replace(tmp, final)
    fsync_path(final.parent)


def remove_leftovers(final: Path) -> None:
    """Delete what killed builds left beside `final`: old temporaries and directories moved aside."""
    now = time.time()
    for path in final.parent.glob(f".{final.name}.*"):
        is_trash = ".old-" in path.name
        is_stale_temp = ".tmp-" in path.name and now - path.lstat().st_mtime > _STALE_TEMP_S
        if is_trash or is_stale_temp:
            _remove(path)


@contextmanager
def atomic_output(final: Path, *, directory: bool = False, check: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `final` to write (an empty directory with `directory`, else a file path not
    yet created); when the block ends normally, fsync it and move it to `final`, replacing what is there. Any
    exception deletes it and leaves `final` untouched. `check` runs again right before the move, for outputs that
    must not have appeared while the block ran (it raises to refuse)."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final)
    tmp = temp_name(final)
    if directory:
        tmp.mkdir()
    try:
        yield tmp
        if tmp.is_dir():
            fsync_tree(tmp)
        else:
            fsync_path(tmp)
        if check is not None:
            check()
        replace_path(tmp, final)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


def write_atomic(path: Path, text: str) -> None:
    """A text file, all or nothing."""
    with atomic_output(Path(path)) as tmp:
        tmp.write_text(text, encoding="utf-8")


def copy_atomic(source: Path, final: Path) -> None:
    """A copy of the file `source` at `final`, all or nothing."""
    with atomic_output(Path(final)) as tmp:
        shutil.copyfile(source, tmp)


@contextmanager
def locked(path: Path, *, timeout: float = 600.0) -> Iterator[None]:
    """Hold an exclusive lock tied to `path` for the block: processes on this machine that would build the same
    output take turns. The lock file lives in the temp folder (named by a hash of the resolved path), so output
    folders hold nothing but outputs."""
    import hashlib
    import tempfile

    from filelock import FileLock, Timeout

    key = hashlib.sha1(str(Path(path).resolve()).encode("utf-8")).hexdigest()[:20]
    folder = Path(tempfile.gettempdir()) / "smolthink-locks"
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / f"{key}.lock"), timeout=timeout)
    try:
        with lock:
            yield
    except Timeout:
        raise TimeoutError(f"another process has held the lock on {path} for over {timeout:.0f} s") from None
