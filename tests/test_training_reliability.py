"""Training work that must not be lost and results that must not lie: the pre-step state at a NaN stop, resume
checks, save-before-evaluate, SIGTERM and dead DataLoader workers, interrupted folder replacement, damaged
checkpoints and a full disk."""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch
from conftest import tiny_config_kwargs
from safetensors.torch import load_file, save_file
from test_training import REPO, _arguments, _cli, _env, _load_example

from tanet_hf import TANetConfig, TANetForVideoClassification
from tanet_hf.atomic import backup_of, recover_folder, replace_folder
from tanet_hf.training.checkpointing import (
    CheckpointSaveError,
    ResumeError,
    checkpoint_problem,
    list_checkpoints,
    read_trainer_state,
    resolve_checkpoint,
    save_checkpoint,
)

train_example = _load_example("train")  # its globals are patched below: a module of this file's own
train = train_example.train


pytestmark = pytest.mark.usefixtures("fresh_accelerate_state")


def _rewrite_manifest(folder: Path) -> None:
    """Record the current files as written (what an honest but non-finite save would have produced)."""
    state = read_trainer_state(folder)
    for name in state["files"]:
        data = (folder / name).read_bytes()
        state["files"][name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    (folder / "trainer_state.json").write_text(json.dumps(state))


# ---------------------------------------------------------------------------------------------------------------
# NaN stop and resume checks
# ---------------------------------------------------------------------------------------------------------------


def test_nan_stop_saves_the_finite_pre_step_state_and_non_finite_states_are_refused_by_name(
    tiny_dataset, tmp_path, monkeypatch
):
    common = dict(eval_strategy="no", do_final_eval=False)
    reference = train(*_arguments(tiny_dataset, tmp_path / "reference", stop_after_steps=2, **common))
    original = TANetForVideoClassification.forward
    calls = {"n": 0}

    def forward_on_nan_frames(self, pixel_values=None, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:  # BatchNorm folds the NaN into its running statistics before the loss exists
            pixel_values = pixel_values * float("nan")
        return original(self, pixel_values=pixel_values, **kwargs)

    monkeypatch.setattr(TANetForVideoClassification, "forward", forward_on_nan_frames)
    with pytest.raises(FloatingPointError, match=r"Non-finite loss .* at step 3 .*nan-checkpoint-2"):
        train(*_arguments(tiny_dataset, tmp_path / "nan", **common))
    monkeypatch.setattr(TANetForVideoClassification, "forward", original)
    saved = tmp_path / "nan" / "checkpoints" / "nan-checkpoint-2"
    before_step = load_file(Path(reference.checkpoint) / "model.safetensors")
    at_stop = load_file(saved / "model.safetensors")
    for name, tensor in before_step.items():
        assert torch.isfinite(at_stop[name]).all(), name
        assert torch.equal(at_stop[name], tensor), name  # the state after step 2, running statistics included

    resumed = train(*_arguments(tiny_dataset, tmp_path / "nan", resume_from_checkpoint=str(saved), stop_after_steps=1, **common))  # fmt: skip
    assert resumed.global_step == 3

    poisoned = tmp_path / "poisoned" / "checkpoints" / "checkpoint-2"
    shutil.copytree(reference.checkpoint, poisoned)
    tensors = load_file(poisoned / "model.safetensors")
    name = next(k for k in tensors if k.endswith("running_var"))
    tensors[name][0] = float("inf")
    save_file(tensors, poisoned / "model.safetensors", metadata={"format": "pt"})
    _rewrite_manifest(poisoned)
    with pytest.raises(ResumeError, match=rf"checkpoint-2, model tensor: {name} holds 1 non-finite value"):
        train(*_arguments(tiny_dataset, tmp_path / "poisoned", resume_from_checkpoint="latest", **common))


def test_a_non_finite_gradient_stops_before_the_optimizer_step_with_a_finite_state(tiny_dataset, tmp_path, monkeypatch):
    original = TANetForVideoClassification.forward
    calls = {"n": 0}

    def forward_with_infinite_gradient(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 3:  # sqrt at 0: the loss stays finite, its gradient is not
            out.loss = out.loss + torch.sqrt((self.classifier.weight * 0).sum())
        return out

    monkeypatch.setattr(TANetForVideoClassification, "forward", forward_with_infinite_gradient)
    with pytest.raises(FloatingPointError, match=r"Non-finite gradient norm .* at step 3 .*nan-checkpoint-2"):
        train(*_arguments(tiny_dataset, tmp_path / "grad", eval_strategy="no", do_final_eval=False))
    saved = load_file(tmp_path / "grad" / "checkpoints" / "nan-checkpoint-2" / "model.safetensors")
    assert all(torch.isfinite(tensor).all() for tensor in saved.values())  # the step was never applied


def test_resume_refuses_changed_labels_and_says_what_changed_in_batch_size_and_seed(tiny_dataset, tmp_path, caplog):
    common = dict(eval_strategy="no", do_final_eval=False, per_device_train_batch_size=2, save_total_limit=None)
    out = tmp_path / "run"
    first = train(*_arguments(tiny_dataset, out, stop_after_steps=3, **common))
    assert read_trainer_state(first.checkpoint)["batch_in_epoch"] == 3  # 6 samples of epoch 0 seen

    renamed = tmp_path / "renamed"
    shutil.copytree(tiny_dataset, renamed)
    for split in ("train", "validation", "test"):
        if (renamed / split / "approaching").is_dir():
            (renamed / split / "approaching").rename(renamed / split / "coming")
    with pytest.raises(ResumeError, match=r"trained on 2 labels .*added \['coming'\], removed \['approaching'\]"):
        train(*_arguments(renamed, out, resume_from_checkpoint="latest", **common))

    caplog.set_level(logging.WARNING, logger="tanet_hf.training.checkpointing")
    bigger = dict(common, per_device_train_batch_size=3, seed=1)
    resumed = train(*_arguments(tiny_dataset, out, resume_from_checkpoint="latest", stop_after_steps=1, **bigger))
    warning = caplog.text
    assert "per_device_train_batch_size 2 → 3" in warning and "seed 0 → 1" in warning
    assert "continues after sample 6 (batch 2 of the new size)" in warning and "seen twice" in warning
    # 6 samples seen = 2 batches of 3; one more step: 3 batches, nothing skipped
    assert read_trainer_state(resumed.checkpoint)["batch_in_epoch"] == 3


# ---------------------------------------------------------------------------------------------------------------
# Save before evaluating
# ---------------------------------------------------------------------------------------------------------------


def test_epoch_checkpoint_is_saved_before_evaluation_and_a_failed_evaluation_is_reported(
    tiny_dataset, tmp_path, monkeypatch
):
    def unreadable(*args, **kwargs):
        assert list_checkpoints(tmp_path / "out"), "evaluation ran before the epoch's checkpoint was saved"
        raise OSError("validation split unreadable")

    monkeypatch.setattr(train_example, "evaluate_model", unreadable)
    monkeypatch.setattr(train_example, "final_evaluation", unreadable)
    result = train(*_arguments(tiny_dataset, tmp_path / "out", num_train_epochs=1, eval_strategy="epoch"))
    assert result.status == "finished" and result.global_step == 4
    assert [c.name for c in list_checkpoints(tmp_path / "out")] == ["checkpoint-4"]
    assert (tmp_path / "out" / "model" / "model.safetensors").is_file()  # the trained model is saved all the same
    errors = json.loads((tmp_path / "out" / "train_results.json").read_text())["evaluation_errors"]
    assert len(errors) == 2 and all("validation split unreadable" in e for e in errors)
    assert "evaluation at step 4 (epoch 1) failed" in errors[0] and errors[1].startswith("final evaluation failed")
    history = read_trainer_state(tmp_path / "out" / "checkpoints" / "checkpoint-4")["log_history"]
    assert "eval/error" in history[-1]  # the checkpoint's history records the failure


# ---------------------------------------------------------------------------------------------------------------
# Signals and dead workers (real signals to a real run)
# ---------------------------------------------------------------------------------------------------------------


class _Run:
    """`examples/train.py` in its own process group, its output collected by a thread."""

    def __init__(self, args):
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "examples" / "train.py"), *_cli(*args)],
            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, condition, seconds: float = 240) -> None:
        deadline = time.time() + seconds
        while not condition() and time.time() < deadline and self.process.poll() is None:
            time.sleep(0.2)
        assert condition(), self.output[-3000:]

    def finish(self) -> int:
        returncode = self.process.wait(timeout=180)
        self.reader.join(timeout=10)
        return returncode

    def workers(self) -> list[int]:
        """The DataLoader workers: children forked from the training process."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()] if path.exists() else []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="reads /proc")
def test_sigterm_to_the_process_group_leaves_a_resumable_state(tiny_dataset, tmp_path):
    out = tmp_path / "terminated"
    args = _arguments(
        tiny_dataset, out, num_train_epochs=300, eval_strategy="no", save_strategy="steps", save_steps=5,
        dataloader_num_workers=2,
    )  # fmt: skip
    run = _Run(args)
    run.wait_for(lambda: list_checkpoints(out) and run.workers())
    os.killpg(run.process.pid, signal.SIGTERM)  # what a scheduler sends: every process of the job, workers included
    assert run.finish() == 0, run.output[-3000:]
    summary = json.loads((out / "train_results.json").read_text())
    assert summary["status"] == "stopped" and "continue with --resume_from_checkpoint latest" in run.output
    latest = resolve_checkpoint("latest", out)
    assert latest.name == f"checkpoint-{summary['global_step']}" and checkpoint_problem(latest) is None


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="reads /proc")
def test_a_worker_killed_by_the_oom_killer_leaves_a_resumable_state(tiny_dataset, tmp_path):
    out = tmp_path / "oom"
    args = _arguments(
        tiny_dataset, out, num_train_epochs=300, eval_strategy="no", save_strategy="no", dataloader_num_workers=2,
        per_device_train_batch_size=1,
    )  # fmt: skip
    run = _Run(args)
    # 16 steps an epoch: at step 6 the workers are busy with this epoch (not exiting at its end)
    run.wait_for(lambda: "step 6/" in run.output and run.workers())
    os.kill(run.workers()[0], signal.SIGKILL)  # what the out-of-memory killer does
    assert run.finish() == 1, run.output[-3000:]
    assert "A DataLoader worker died" in run.output and "--resume_from_checkpoint latest" in run.output
    latest = resolve_checkpoint("latest", out)  # save_strategy "no": only the failure handler saved this
    assert latest is not None and checkpoint_problem(latest) is None, run.output[-3000:]
    assert f"saved in {latest}" in run.output
    assert read_trainer_state(latest)["global_step"] >= 6


# ---------------------------------------------------------------------------------------------------------------
# Folder replacement, damaged checkpoints, full disk
# ---------------------------------------------------------------------------------------------------------------


def _accelerator_with_a_tiny_model():
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    model = TANetForVideoClassification(TANetConfig(**tiny_config_kwargs()))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model, optimizer = accelerator.prepare(model, optimizer)
    return accelerator


def _killed_after_first_rename(monkeypatch):
    """`os.replace` in the replacement works once, then the process "dies": no later rename happens."""
    import tanet_hf.atomic as atomic

    real = os.replace
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] > 1:
            raise SystemExit("killed")
        real(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    return lambda: monkeypatch.setattr(atomic.os, "replace", real)


def test_replacing_a_folder_killed_between_renames_keeps_the_previous_one_findable(tmp_path, monkeypatch):
    target, staging = tmp_path / "model", tmp_path / ".model.partial"
    target.mkdir()
    (target / "weights").write_text("old")
    staging.mkdir()
    (staging / "weights").write_text("new")
    revive = _killed_after_first_rename(monkeypatch)
    with pytest.raises(SystemExit):
        replace_folder(staging, target)
    revive()
    assert not target.exists() and (backup_of(target) / "weights").read_text() == "old"
    assert recover_folder(target) and (target / "weights").read_text() == "old" and not backup_of(target).exists()
    replace_folder(staging, target)
    assert (target / "weights").read_text() == "new" and not backup_of(target).exists()

    # an error while moving the new folder in puts the old one back
    (staging := tmp_path / ".model.partial2").mkdir()
    monkeypatch.setattr("tanet_hf.atomic.os.replace", _failing_second_replace(os.replace))
    with pytest.raises(OSError, match="cross-device"):
        replace_folder(staging, target)
    assert (target / "weights").read_text() == "new"


def test_a_converted_folder_replacement_killed_between_renames_comes_back(tmp_path, monkeypatch):
    from test_convert import TINY, _source_network

    from tanet_hf.conversion.convert import convert_checkpoint

    path = tmp_path / "ckpt.pth.tar"
    torch.save(_source_network("release", 8, 400, TINY, seed=11).checkpoint(), path)
    folder = convert_checkpoint(path, tmp_path / "converted")
    revive = _killed_after_first_rename(monkeypatch)
    with pytest.raises(SystemExit):
        convert_checkpoint(path, folder, overwrite=True)
    revive()
    assert not folder.exists()  # killed between the renames: the previous folder waits under its backup name
    with pytest.raises(FileExistsError):  # the next call puts it back first, so nothing is silently replaced
        convert_checkpoint(path, folder)
    assert (folder / "model.safetensors").is_file() and not backup_of(folder).exists()


def _failing_second_replace(real):
    calls = {"n": 0}

    def replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.EXDEV, "cross-device link")
        real(src, dst)

    return replace


def test_checkpoint_replacement_killed_between_renames_is_still_resumed_with_a_limit_of_one(tmp_path, monkeypatch):
    accelerator = _accelerator_with_a_tiny_model()
    folder = tmp_path / "checkpoints"
    save_checkpoint(accelerator, folder / "checkpoint-2", {"global_step": 2}, save_total_limit=1)
    save_checkpoint(accelerator, folder / "checkpoint-4", {"global_step": 4}, save_total_limit=1)
    assert [c.name for c in list_checkpoints(tmp_path)] == ["checkpoint-4"]  # the limit deleted checkpoint-2
    revive = _killed_after_first_rename(monkeypatch)
    with pytest.raises(SystemExit):  # the epoch-end save replacing the step checkpoint of the same step
        save_checkpoint(accelerator, folder / "checkpoint-4", {"global_step": 4, "epoch": 1}, save_total_limit=1)
    revive()
    assert not (folder / "checkpoint-4").exists() and not (folder / ".tmp-checkpoint-4").exists()
    latest = resolve_checkpoint("latest", tmp_path)
    assert latest == backup_of(folder / "checkpoint-4") and read_trainer_state(latest)["global_step"] == 4
    save_checkpoint(accelerator, folder / "checkpoint-4", {"global_step": 4, "epoch": 1}, save_total_limit=1)
    assert [c.name for c in list_checkpoints(tmp_path)] == ["checkpoint-4"]
    assert read_trainer_state(folder / "checkpoint-4")["epoch"] == 1 and not backup_of(folder / "checkpoint-4").exists()


def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_good_one(tmp_path, caplog):
    accelerator = _accelerator_with_a_tiny_model()
    folder = tmp_path / "checkpoints"
    for step in (2, 4, 6):
        save_checkpoint(accelerator, folder / f"checkpoint-{step}", {"global_step": step}, save_total_limit=None)
    weights = folder / "checkpoint-6" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])  # truncated
    optimizer = folder / "checkpoint-4" / "optimizer.bin"
    data = bytearray(optimizer.read_bytes())
    data[-10] ^= 0xFF  # one flipped byte, same size
    optimizer.write_bytes(bytes(data))
    caplog.set_level(logging.WARNING, logger="tanet_hf.training.checkpointing")
    assert resolve_checkpoint("latest", tmp_path) == folder / "checkpoint-2"
    assert "checkpoint-6 is damaged (model.safetensors has 100 bytes" in caplog.text
    assert "checkpoint-4 is damaged (optimizer.bin does not match the sha256" in caplog.text
    with pytest.raises(ResumeError, match=r"resume_from_checkpoint=.*checkpoint-6' is damaged: model.safetensors"):
        resolve_checkpoint(str(folder / "checkpoint-6"), tmp_path)
    (folder / "checkpoint-2" / "random_states_0.pkl").unlink()
    with pytest.raises(ResumeError, match=r"No intact checkpoint .*checkpoint-2: random_states_0.pkl is missing"):
        resolve_checkpoint("latest", tmp_path)


def test_a_full_disk_names_the_path_and_space_needed_and_leaves_no_partial_folder(tmp_path, monkeypatch):
    accelerator = _accelerator_with_a_tiny_model()
    folder = tmp_path / "checkpoints"
    save_checkpoint(accelerator, folder / "checkpoint-2", {"global_step": 2}, save_total_limit=1)

    def disk_full(obj, f, *args, **kwargs):
        Path(f).write_bytes(b"\0" * 64)  # part of the file made it to disk
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(CheckpointSaveError, match=r"checkpoint-4: it needs about \d+ MiB and .* MiB free") as caught:
        save_checkpoint(accelerator, folder / "checkpoint-4", {"global_step": 4}, save_total_limit=1)
    assert caught.value.errno == errno.ENOSPC and "previous checkpoint" in str(caught.value)
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-2"]  # no partial folder; the old one kept
    assert checkpoint_problem(folder / "checkpoint-2") is None
