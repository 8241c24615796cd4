"""Write outputs atomically: build under a temporary name next to the destination, rename when complete.

An interrupted merge or export leaves only a hidden staging entry ``.NAME.partial-HOST-PID-XXXXXXXX``, never a
file or directory that looks finished; the next staging in that folder removes it once it is stale (see
:func:`remove_stale_staging`). Staging entries are created like any new file or folder, with the permissions the
umask gives, and keep them after the rename.

Two processes writing the same destination at once (two notebooks building one cache) are safe: each stages on its
own, the renames are atomic, and a finished directory is never deleted while its path still leads to it.
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

STALE_AFTER_S = 24 * 3600  # staging entries from another host or container are removed after a day
_STAGING = re.compile(r"\..+\.partial-(?P<host>.+)-(?P<pid>\d+)-[0-9a-f]{8}")
_TAKEN = (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR)  # what a rename onto an existing entry raises


class OutputExistsError(FileExistsError):
    """The output path already holds something; the course never overwrites it silently."""


def _exists(destination: Path) -> OutputExistsError:
    return OutputExistsError(f"{destination}: already exists; choose another output path or delete it first")


def refuse_existing(destination: Path) -> None:
    """Raise :class:`OutputExistsError` if ``destination`` exists."""
    if destination.exists():
        raise _exists(destination)


def remove_stale_staging(folder: Path) -> None:
    """Remove the staging entries that killed runs left in ``folder``.

    An entry is stale when the process named in it is gone (same host), or, when it was made on another host or in
    another container (whose processes cannot be checked from here), when it is older than :data:`STALE_AFTER_S`.
    A run that is still staging is never touched on this host. Entries that cannot be removed are left alone.
    """
    host = socket.gethostname()
    for entry in folder.glob(".*.partial-*"):
        match = _STAGING.fullmatch(entry.name)
        if not match:
            continue
        if match["host"] == host:
            stale = not _running(int(match["pid"]))
        else:
            try:
                stale = time.time() - entry.lstat().st_mtime > STALE_AFTER_S
            except FileNotFoundError:  # removed meanwhile by its owner
                continue
        if stale:
            _remove(entry)


def _running(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _staging_name(destination: Path) -> Path:
    return destination.with_name(f".{destination.name}.partial-{socket.gethostname()}-{os.getpid()}-"
                                 f"{secrets.token_hex(4)}")


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        status = path.lstat()
    except FileNotFoundError:
        return None
    return status.st_dev, status.st_ino


def _prepare(destination: Path, replace: bool) -> None:
    if not replace:
        refuse_existing(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(destination.parent)


@contextmanager
def staged_dir(destination: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory; on success it is renamed to ``destination``.

    ``destination`` must not exist, and must not appear while staging (:class:`OutputExistsError`), unless
    ``replace=True`` (the course's own caches and records). Then the entry that was there when staging began is
    replaced once the new one is complete: moved aside, the new one renamed in, the old one removed (readers that
    open files by path see the new one). If another process finished the same destination meanwhile, its result is
    kept and this one dropped: both were built for the same cache, and the first may already be in use.
    """
    destination = Path(destination)
    _prepare(destination, replace)
    before = _identity(destination)
    staging = _staging_name(destination)
    staging.mkdir()
    try:
        yield staging
        try:
            os.rename(staging, destination)  # atomic; fails if a non-empty directory or a file is there
        except OSError as error:
            if error.errno not in _TAKEN:
                raise
            if not replace:
                raise _exists(destination) from None
            if _identity(destination) == before:  # the old entry we were asked to replace
                old = _staging_name(destination)
                try:
                    os.rename(destination, old)
                except FileNotFoundError:  # another process moved the same old entry aside first
                    old = None
                try:
                    os.rename(staging, destination)
                except OSError as again:  # another process renamed its own in between: keep that one
                    if again.errno not in _TAKEN:
                        raise
                if old is not None:
                    _remove(old)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def staged_file(destination: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a staging file path; on success it becomes ``destination``.

    Without ``replace`` a hard link makes it appear only if nothing took the name meanwhile
    (:class:`OutputExistsError` otherwise); with ``replace`` it replaces what is there, atomically.
    """
    destination = Path(destination)
    _prepare(destination, replace)
    staging = _staging_name(destination)
    os.close(os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield staging
        if replace:
            os.replace(staging, destination)
        else:
            try:
                os.link(staging, destination)
            except FileExistsError:
                raise _exists(destination) from None
    finally:
        staging.unlink(missing_ok=True)


def reuse_or_store(destination: str | Path, key: dict, compute: Callable[[], object]) -> object:
    """The JSON value stored in ``destination`` under ``key``; when the file holds another key or none, ``compute()``
    it and store it atomically. For a measurement one lab makes and later labs reuse (the key says what it depends
    on: model, data, CPU kernels, library versions). Says in one printed line when it reuses a stored value."""
    destination = Path(destination)
    stored = json.loads(destination.read_text()) if destination.is_file() else {}
    if stored.get("key") == key and "value" in stored:  # a file written in another format is measured afresh
        print(f"reusing the measurement stored in {destination} (the same {', '.join(sorted(key))})")
        return stored["value"]
    value = compute()
    with staged_file(destination, replace=True) as staging:
        staging.write_text(json.dumps({"key": key, "value": value}))
    return value
