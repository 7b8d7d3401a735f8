# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Training checkpoints: `accelerator.save_state` written to a temporary folder and renamed into place
(a checkpoint folder is complete or absent), listing and resolving them for resumption (`"latest"`), and the
signal-safe stop request (Ctrl-C / SIGTERM: save a resumable state after the current step).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
from pathlib import Path
from typing import Any

from accelerate import Accelerator

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"


NAN_CHECKPOINT_PREFIX = "nan-checkpoint-"


TRAINER_STATE_FILE = "trainer_state.json"


def _checkpoint_step(path: Path) -> int:
    return int(path.name[len(CHECKPOINT_PREFIX) :])


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints under `output_dir/checkpoints`, oldest first (temporary folders are ignored)."""
    folder = Path(output_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found = [
        path
        for path in folder.iterdir()
        if path.is_dir()
        and re.fullmatch(rf"{CHECKPOINT_PREFIX}\d+", path.name)
        and (path / TRAINER_STATE_FILE).is_file()
    ]
    return sorted(found, key=_checkpoint_step)


def resolve_checkpoint(spec: str, output_dir: str | os.PathLike) -> Path | None:
    """`"latest"` → the newest complete checkpoint (None when there is none yet); a path → that folder."""
    if spec == "latest":
        checkpoints = list_checkpoints(output_dir)
        return checkpoints[-1] if checkpoints else None
    path = Path(spec)
    if not (path / TRAINER_STATE_FILE).is_file():
        raise FileNotFoundError(
            f"resume_from_checkpoint={spec!r} is not a checkpoint folder (no {TRAINER_STATE_FILE})."
        )
    return path


def save_checkpoint(
    accelerator: Accelerator, folder: Path, trainer_state: dict[str, Any], save_total_limit: int | None
) -> Path:
    """
    `accelerator.save_state` into `.tmp-<name>`, then (main process) `trainer_state.json` and an atomic rename to
    `<name>`: a checkpoint folder either is complete or does not exist under its final name.
    """
    tmp = folder.with_name(f".tmp-{folder.name}")
    if accelerator.is_main_process:
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / TRAINER_STATE_FILE).write_text(json.dumps(trainer_state, indent=2) + "\n")
        if folder.exists():
            old = folder.with_name(f".old-{folder.name}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(folder, old)
            os.replace(tmp, folder)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, folder)
        if save_total_limit is not None and save_total_limit > 0 and folder.name.startswith(CHECKPOINT_PREFIX):
            for stale in list_checkpoints(folder.parent.parent)[:-save_total_limit]:
                if stale != folder:
                    shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return folder


class StopRequest:
    """SIGINT / SIGTERM handler: the first signal asks the loop to stop at the next optimizer step with a saved
    state; a second SIGINT interrupts at once."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        import threading

        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True
        logger.warning(
            "Signal %d: saving a resumable checkpoint after the current step (Ctrl-C again to abort).", signum
        )

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


__all__ = [
    "CHECKPOINT_PREFIX",
    "NAN_CHECKPOINT_PREFIX",
    "TRAINER_STATE_FILE",
    "StopRequest",
    "list_checkpoints",
    "resolve_checkpoint",
    "save_checkpoint",
]
