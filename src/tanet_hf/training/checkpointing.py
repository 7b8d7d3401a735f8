# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Training checkpoints that can be trusted, and the signal-safe stop request.

- Writing: `accelerator.save_state` goes to a temporary folder, then `trainer_state.json` with a manifest (size and
  sha256 of every file), then [`tanet_hf.atomic.replace_folder`] moves it in: a checkpoint folder is complete or
  absent, the previous checkpoint is deleted only after the new one is complete, and a full disk leaves no partial
  folder and names the space needed ([`CheckpointSaveError`]).
- Reading: `"latest"` is the newest checkpoint whose files match its manifest; a damaged newer one is skipped with a
  message. Resuming refuses a changed label set and non-finite tensors by name ([`ResumeError`]) and says what
  changed when the batch size, process count or seed did; the position in the epoch is converted to samples, so a
  changed batch size neither skips nor repeats data.
- The pre-step state: [`BufferSnapshot`] keeps the model's buffers (BatchNorm running statistics) as they were at the
  last optimizer step, since the forward pass updates them before the loss can be checked.
- [`StopRequest`]: SIGINT / SIGTERM ask the loop to save a resumable state after the current step.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import signal
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from ..atomic import backup_of, replace_folder
from ..conversion.model_card import sha256_of_file

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"


NAN_CHECKPOINT_PREFIX = "nan-checkpoint-"


TRAINER_STATE_FILE = "trainer_state.json"


class ResumeError(ValueError):
    """A checkpoint that cannot be resumed in this run (damaged, non-finite, or trained on other labels)."""


class CheckpointSaveError(OSError):
    """A checkpoint could not be written (e.g. the disk is full); nothing partial is left and older ones are kept."""


def _checkpoint_step(name: str) -> int | None:
    match = re.fullmatch(rf"{CHECKPOINT_PREFIX}(\d+)", name) or re.fullmatch(
        rf"\.{CHECKPOINT_PREFIX}(\d+)\.previous", name
    )
    return int(match.group(1)) if match else None


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """
    Checkpoints under `output_dir/checkpoints` that have their `trainer_state.json`, oldest first. Temporary folders
    are ignored; where a replacement was interrupted between its two renames, the kept previous folder
    ([`tanet_hf.atomic.backup_of`]) stands for its missing name. Files are not verified here (see
    [`checkpoint_problem`]).
    """
    folder = Path(output_dir) / "checkpoints"
    if not folder.is_dir():
        return []
    found: dict[int, Path] = {}
    for path in folder.iterdir():
        step = _checkpoint_step(path.name)
        if step is None or not (path / TRAINER_STATE_FILE).is_file():
            continue
        if path.name.startswith(".") and (folder / f"{CHECKPOINT_PREFIX}{step}" / TRAINER_STATE_FILE).is_file():
            continue  # the replacement completed; only its clean-up is left
        found[step] = path
    return [found[step] for step in sorted(found)]


def _manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """`{relative path: {"bytes", "sha256"}}` of every file in `folder` except `trainer_state.json`."""
    return {
        path.relative_to(folder).as_posix(): {"bytes": path.stat().st_size, "sha256": sha256_of_file(path)}
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path.name != TRAINER_STATE_FILE
    }


def read_trainer_state(folder: str | os.PathLike) -> dict[str, Any]:
    """The `trainer_state.json` of a checkpoint folder; [`ResumeError`] naming the folder when it is unreadable."""
    path = Path(folder) / TRAINER_STATE_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ResumeError(f"{path} is unreadable ({error}).") from error


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """What is wrong with a checkpoint folder (a missing, truncated or altered file, an unreadable state), or None
    when every file matches the manifest in its `trainer_state.json` (checkpoints without one: the state only)."""
    folder = Path(folder)
    try:
        state = read_trainer_state(folder)
    except ResumeError as error:
        return str(error)
    for name, expected in state.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected["bytes"]:
            return f"{name} has {path.stat().st_size} bytes, {expected['bytes']} were written"
        if sha256_of_file(path) != expected["sha256"]:
            return f"{name} does not match the sha256 recorded when it was written"
    return None


def resolve_checkpoint(spec: str, output_dir: str | os.PathLike) -> Path | None:
    """
    `"latest"` → the newest checkpoint whose files are intact (None when there is none yet); damaged newer ones are
    skipped with a warning naming what is wrong, and [`ResumeError`] is raised when checkpoints exist but none is
    intact. A path → that folder, if intact.
    """
    if spec != "latest":
        path = Path(spec)
        if not (path / TRAINER_STATE_FILE).is_file() and (backup_of(path) / TRAINER_STATE_FILE).is_file():
            path = backup_of(path)  # its replacement was interrupted between the two renames
        if not (path / TRAINER_STATE_FILE).is_file():
            raise FileNotFoundError(
                f"resume_from_checkpoint={spec!r} is not a checkpoint folder (no {TRAINER_STATE_FILE})."
            )
        problem = checkpoint_problem(path)
        if problem:
            raise ResumeError(f"resume_from_checkpoint={spec!r} is damaged: {problem}.")
        return path
    checkpoints = list_checkpoints(output_dir)
    damaged = []
    for path in reversed(checkpoints):
        problem = checkpoint_problem(path)
        if problem is None:
            if damaged:
                logger.warning("Resuming from %s, the newest intact checkpoint.", path)
            return path
        damaged.append(f"{path.name}: {problem}")
        logger.warning("Checkpoint %s is damaged (%s): trying the previous one.", path, problem)
    if damaged:
        raise ResumeError(
            f"No intact checkpoint in {Path(output_dir) / 'checkpoints'} to resume from: {'; '.join(damaged)}."
        )
    return None


def _state_bytes(accelerator: Accelerator) -> int:
    """The bytes of the model and optimizer tensors `save_state` writes: what a checkpoint needs, about."""
    tensors: list[torch.Tensor] = []
    for model in accelerator._models:
        tensors += [t for t in model.state_dict().values() if isinstance(t, torch.Tensor)]
    for optimizer in accelerator._optimizers:
        for per_parameter in optimizer.state_dict()["state"].values():
            tensors += [t for t in per_parameter.values() if isinstance(t, torch.Tensor)]
    return sum(t.numel() * t.element_size() for t in tensors)


def _no_space_error(accelerator: Accelerator, folder: Path, error: OSError) -> CheckpointSaveError:
    needed = _state_bytes(accelerator) / 2**20
    free = shutil.disk_usage(folder.parent).free / 2**20
    previous = list_checkpoints(folder.parent.parent)
    kept = f"the previous checkpoint {previous[-1]} is kept" if previous else "no earlier checkpoint exists"
    return CheckpointSaveError(
        error.errno,
        f"No space left to write checkpoint {folder}: it needs about {needed:.0f} MiB and {folder.parent} has "
        f"{free:.0f} MiB free ({error}); nothing partial was left and {kept}. Free some space (or lower "
        f"--save_total_limit) and resume with --resume_from_checkpoint latest.",
    )


def save_checkpoint(
    accelerator: Accelerator, folder: Path, trainer_state: dict[str, Any], save_total_limit: int | None
) -> Path:
    """
    `accelerator.save_state` into `.tmp-<name>`, then (main process) `trainer_state.json` with the files' manifest
    and [`replace_folder`] to `<name>`; then the checkpoints beyond the newest `save_total_limit` are deleted. Any
    failure removes the temporary folder; a full disk raises [`CheckpointSaveError`] naming the space needed.
    """
    tmp = folder.with_name(f".tmp-{folder.name}")
    if accelerator.is_main_process:
        folder.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
    accelerator.wait_for_everyone()
    try:
        accelerator.save_state(str(tmp))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            state = {**trainer_state, "files": _manifest(tmp)}
            (tmp / TRAINER_STATE_FILE).write_text(json.dumps(state, indent=2) + "\n")
            replace_folder(tmp, folder)
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            raise _no_space_error(accelerator, folder, error) from error
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if accelerator.is_main_process and save_total_limit and folder.name.startswith(CHECKPOINT_PREFIX):
        for stale in list_checkpoints(folder.parent.parent)[:-save_total_limit]:
            if stale != folder:
                shutil.rmtree(stale, ignore_errors=True)
    accelerator.wait_for_everyone()
    return folder


def update_trainer_state(accelerator: Accelerator, folder: Path, updates: dict[str, Any]) -> None:
    """Merge `updates` into a saved checkpoint's `trainer_state.json` (main process; written to a temporary file
    and renamed, so the file is always whole). The manifest does not cover this file, so it stays valid."""
    if accelerator.is_main_process:
        path = folder / TRAINER_STATE_FILE
        state = {**read_trainer_state(folder), **updates}
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, path)
    accelerator.wait_for_everyone()


def check_labels_unchanged(saved: dict[str, Any], label_names: list[str], checkpoint: Path) -> None:
    """[`ResumeError`] when the checkpoint was trained on another label set (or order): its classifier rows would
    mean other classes."""
    before = saved.get("label_names")
    if before is None or list(before) == list(label_names):
        return
    added, removed = sorted(set(label_names) - set(before)), sorted(set(before) - set(label_names))
    change = ", ".join(
        part for part in (f"added {added[:10]}" if added else "", f"removed {removed[:10]}" if removed else "") if part
    )
    raise ResumeError(
        f"{checkpoint} was trained on {len(before)} labels and the dataset now has {len(label_names)} "
        f"({change or 'same labels in another order'}): its classifier would predict the wrong classes. Resume "
        f"with the original label set, or start a new run (--init_from a saved model to fine-tune on these labels)."
    )


def resume_position(saved: dict[str, Any], current: dict[str, int], checkpoint: Path) -> int:
    """
    The batches of the saved epoch to skip in this run, and a warning naming each setting that changed
    (`per_device_train_batch_size`, `num_processes`, `gradient_accumulation_steps`, `seed`). The saved position is
    converted to samples (`batch_in_epoch × per_device_train_batch_size × num_processes`), so a changed batch size
    skips exactly the samples seen (rounded down: at most one batch is seen twice); a changed seed reorders the
    rest of the epoch, which no position can fix.
    """
    changed = {name: (saved[name], value) for name, value in current.items() if name in saved and saved[name] != value}
    batches = int(saved.get("batch_in_epoch", 0))
    if changed:
        details = ", ".join(f"{name} {before} → {after}" for name, (before, after) in changed.items())
        consequences = []
        old_batch = saved.get("per_device_train_batch_size")
        if old_batch is not None and ("per_device_train_batch_size" in changed or "num_processes" in changed):
            samples = batches * old_batch * saved.get("num_processes", current["num_processes"])
            batches = samples // (current["per_device_train_batch_size"] * current["num_processes"])
            consequences.append(f"the epoch continues after sample {samples} (batch {batches} of the new size)")
        elif "per_device_train_batch_size" in changed or "num_processes" in changed:
            consequences.append("the checkpoint does not record its batch size: the epoch position is approximate")
        if "seed" in changed:
            consequences.append(
                "the rest of the epoch follows the new seed's order, so some of its videos are seen twice and "
                "others not at all"
            )
        if "gradient_accumulation_steps" in changed:
            consequences.append("the global batch, and with it the scaled learning rate, changes")
        logger.warning("Resuming %s with changed settings: %s; %s.", checkpoint, details, "; ".join(consequences))
    return batches


def check_finite(named_tensors: Iterable[tuple[str, torch.Tensor]], what: str) -> None:
    """[`ResumeError`] naming the first floating-point tensor of `named_tensors` with NaN or inf values."""
    for name, tensor in named_tensors:
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point():
            bad = int((~torch.isfinite(tensor)).sum())
            if bad:
                raise ResumeError(
                    f"{what}: {name} holds {bad} non-finite value(s) of {tensor.numel()}; this state cannot be "
                    f"resumed (resume from an earlier checkpoint, with a lower learning rate)."
                )


def check_finite_training_state(model: torch.nn.Module, optimizer: torch.optim.Optimizer, checkpoint: Path) -> None:
    """The loaded model (parameters and buffers) and optimizer state are finite, or [`ResumeError`] by name."""
    check_finite(model.state_dict().items(), f"Checkpoint {checkpoint}, model tensor")
    for index, per_parameter in optimizer.state_dict()["state"].items():
        check_finite(
            ((f"state[{index}][{key!r}]", value) for key, value in per_parameter.items()),
            f"Checkpoint {checkpoint}, optimizer",
        )


class BufferSnapshot:
    """
    The model's buffers (BatchNorm running mean / variance / batch count) as they were at the last optimizer step.
    The forward pass updates them before the loss exists, so a step abandoned after its forward (a non-finite loss,
    a dead DataLoader worker) must [`restore`] them for the saved state to be the state before the step.
    Parameters need no copy: only the optimizer step changes them.
    """

    def __init__(self, model: torch.nn.Module):
        self.model = model
        self.buffers: dict[str, torch.Tensor] = {}
        self.take()

    def take(self) -> None:
        """Copy the current buffers (call at every optimizer-step boundary)."""
        with torch.no_grad():
            for name, buffer in self.model.named_buffers():
                if name in self.buffers:
                    self.buffers[name].copy_(buffer)
                else:
                    self.buffers[name] = buffer.detach().clone()

    def restore(self) -> None:
        """Put the buffers back as they were at [`take`]."""
        with torch.no_grad():
            for name, buffer in self.model.named_buffers():
                buffer.copy_(self.buffers[name])


class StopRequest:
    """SIGINT / SIGTERM handler: the first signal asks the loop to stop at the next optimizer step with a saved
    state; a second SIGINT interrupts at once. Schedulers send SIGTERM to the whole process group: DataLoader workers
    have a process group of their own (`tanet_hf.training.loading`), so this process decides."""

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
    "BufferSnapshot",
    "CheckpointSaveError",
    "ResumeError",
    "StopRequest",
    "check_finite",
    "check_finite_training_state",
    "check_labels_unchanged",
    "checkpoint_problem",
    "list_checkpoints",
    "read_trainer_state",
    "resolve_checkpoint",
    "resume_position",
    "save_checkpoint",
    "update_trainer_state",
]
