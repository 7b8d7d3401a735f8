# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Replacing a folder so that its name always holds a complete folder, even if the process is killed half-way.

POSIX cannot rename a folder over a non-empty one, so replacing takes two renames: the old folder to its
*backup* name `.<name>.previous`, then the new one to `<name>`. A kill between them leaves the name empty and the
old folder whole under the backup name; [`replace_folder`] keeps the backup until the new folder is in place, and
[`recover_folder`] (called by `replace_folder` itself, and by readers that must not miss a folder) puts the backup
back. Readers that must not write can instead look at [`backup_of`] themselves.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)


def backup_of(target: str | os.PathLike) -> Path:
    """Where [`replace_folder`] keeps the previous `target` while the new one is moved in: `.<name>.previous`."""
    target = Path(target)
    return target.with_name(f".{target.name}.previous")


def recover_folder(target: str | os.PathLike) -> bool:
    """
    Finish a replacement of `target` that was interrupted: when `target` is missing and its backup exists, the
    backup (the previous, complete folder) is renamed back; when both exist, the replacement had completed and the
    backup is deleted. Returns whether a folder was put back.
    """
    target, backup = Path(target), backup_of(target)
    if not backup.exists():
        return False
    if target.exists():
        shutil.rmtree(backup, ignore_errors=True)
        return False
    os.replace(backup, target)
    logger.warning("%s was missing after an interrupted replacement: the previous folder is restored.", target)
    return True


def replace_folder(staging: str | os.PathLike, target: str | os.PathLike) -> None:
    """
    Move the complete folder `staging` to `target` (same file system), replacing an existing `target`. The old
    `target` is deleted only once the new one is in place; if this is killed between the two renames, the old folder
    is whole under [`backup_of`]`(target)` and [`recover_folder`] restores it. On an error the old folder is put back.
    """
    staging, target = Path(staging), Path(target)
    recover_folder(target)
    if not target.exists():
        os.replace(staging, target)
        return
    backup = backup_of(target)
    os.replace(target, backup)
    try:
        os.replace(staging, target)
    except BaseException:
        os.replace(backup, target)
        raise
    shutil.rmtree(backup, ignore_errors=True)


__all__ = ["backup_of", "recover_folder", "replace_folder"]
