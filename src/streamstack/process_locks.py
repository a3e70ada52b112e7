"""Files a live process holds with an advisory lock, so another process can tell a live owner from a dead one.

The kernel drops a flock when its holder dies (kill -9 included), so "I can take the lock" means "the owner is
gone" without trusting pids, which are reused. Used for encode temp dirs and for the messages a worker holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

PENDING_SUFFIX = ".pending"


class HeldLock:
    """An exclusive lock on `path`, held until release() or the process's death."""

    def __init__(self, path: Path, content: bytes = b"") -> None:
        """Written and locked under a temporary name, then renamed: nobody ever sees it unlocked."""
        self.path = path
        pending = path.with_name(path.name + PENDING_SUFFIX)
        self._fd: int | None = os.open(pending, os.O_CREAT | os.O_TRUNC | os.O_RDWR, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.write(self._fd, content)
        os.rename(pending, path)

    def release(self) -> None:
        """Unlock (the file itself is the caller's to remove, before releasing)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def owner_is_gone(path: Path) -> bool:
    """True when the lock file exists and no process holds its lock; the lock is not kept."""
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
    return True
