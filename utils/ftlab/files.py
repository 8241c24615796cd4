"""Write outputs atomically: build under a temporary name next to the destination, rename when complete.

An interrupted merge or export then leaves only a hidden ``.name-XXXX`` staging entry (removed on the way
out when Python can), never a file or directory that looks finished.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class OutputExistsError(FileExistsError):
    """The output path already holds something; the course never overwrites it silently."""


def refuse_existing(destination: Path) -> None:
    """Raise :class:`OutputExistsError` if ``destination`` exists."""
    if destination.exists():
        raise OutputExistsError(f"{destination}: already exists; choose another output path or delete it first")


def _prepare(destination: Path, replace: bool) -> None:
    if not replace:
        refuse_existing(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)


@contextmanager
def staged_dir(destination: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield an empty staging directory; on success it is renamed to ``destination``.

    ``destination`` must not exist, unless ``replace=True`` (the course's own caches and records): then the old
    one is removed only once the new one is complete.
    """
    destination = Path(destination)
    _prepare(destination, replace)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}-", dir=destination.parent))
    try:
        yield staging
        if destination.exists():
            shutil.rmtree(destination)
        os.replace(staging, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def staged_file(destination: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a staging file path; on success it is renamed to ``destination`` (see :func:`staged_dir`)."""
    destination = Path(destination)
    _prepare(destination, replace)
    handle, name = tempfile.mkstemp(prefix=f".{destination.name}-", dir=destination.parent)
    os.close(handle)
    staging = Path(name)
    try:
        yield staging
        os.replace(staging, destination)
    finally:
        staging.unlink(missing_ok=True)
