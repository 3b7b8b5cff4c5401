"""The server's state on disk is its own: folders 0700, files 0600, whatever the umask.

The database holds every rider's name and every trip; nobody else on the machine needs
to read it. Files are created owner-only (``os.open`` with mode 0600, before SQLite or
anything else opens them), not created and narrowed afterwards, so there is no moment
when they are readable. A folder or file made earlier with wider modes is narrowed when
it is ours; one that is not (another user's, or a shared sticky folder such as /tmp) is
left alone with a warning.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

__all__ = ["OTHERS", "private_dir", "private_file"]

logger = logging.getLogger(__name__)

#: The permission bits of group and others.
OTHERS = 0o077


def private_dir(path: Path) -> None:
    """Make sure folder ``path`` exists (with its parents) and only its owner may enter it."""
    if not path.is_dir():
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _narrow(path)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 unless it exists; narrow it if it does."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        _narrow(path)
    else:
        os.close(fd)


def _narrow(path: Path) -> None:
    """Drop the group and other bits of ``path`` when it is ours and not a shared folder."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    mode = stat.S_IMODE(info.st_mode)
    if not mode & OTHERS:
        return
    if info.st_uid != os.geteuid() or mode & stat.S_ISVTX:
        logger.warning(
            "%s is readable by others (mode %o) and not ours to change; keep the server's "
            "state in a folder of its own",
            path,
            mode,
        )
        return
    try:
        os.chmod(path, mode & ~OTHERS)
    except OSError as exc:  # a read-only file system, say: the server still runs
        logger.warning(
            "%s is readable by others (mode %o) and cannot be narrowed: %s", path, mode, exc
        )
        return
    logger.info("narrowed %s from mode %o to %o (owner only)", path, mode, mode & ~OTHERS)
