"""Directories only the bot's own user can read: the data directory and the key's.

`Path.mkdir(parents=True, mode=...)` applies `mode` to the last directory only, and both it
and `os.makedirs` pass the mode through the umask, so a directory created by whichever
file happened to be written first (the key, the snapshot, the database) came out 0755.
Every directory the bot creates goes through `make_private_dir`, which creates each
missing level itself and sets 0700 explicitly.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger("bot.private_dir")

PRIVATE = 0o700


def make_private_dir(path: Path) -> Path:
    """Create `path` and any missing parents, each 0700; tighten `path` itself if it is ours.

    An existing directory that others can read is tightened when this user owns it; a
    warning is logged when that cannot be done (it stays as the operator made it).
    """
    path = Path(path)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE)
        except FileExistsError:
            pass  # created meanwhile by another process: tightened below if it is the target
        else:
            os.chmod(directory, PRIVATE)  # mkdir's mode went through the umask
    info = path.stat()
    if stat.S_IMODE(info.st_mode) & 0o077:
        if info.st_uid == os.getuid():
            os.chmod(path, PRIVATE)
        else:
            log.warning(
                "%s can be read by other users and is not ours to change (mode %o)",
                path,
                stat.S_IMODE(info.st_mode),
            )
    return path
