# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Push a converted or trained TANet folder to the Hugging Face Hub in one commit (`tanet-hf push`).

The folder must be a complete repository — weights, `config.json` with its `auto_map`, the video processor's
config, every remote-code file both name, and a `README.md` model card — so that what lands on the Hub loads with
`from_pretrained(..., trust_remote_code=True)` and `pipeline(...)` without `tanet_hf` installed.

Authentication follows huggingface_hub: `token=` if given, else `HF_TOKEN`, else the token saved by `hf auth login`.
The endpoint is `HF_ENDPOINT` (default https://huggingface.co).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from huggingface_hub import CommitInfo, CommitOperationAdd, HfApi, ModelCard

# Files every pushed folder must hold, besides the remote-code files named by the `auto_map`s.
REQUIRED_FILES = ("config.json", "model.safetensors", "video_preprocessor_config.json", "README.md")
_AUTO_CLASSES = {
    "config.json": ("AutoConfig", "AutoModel", "AutoModelForVideoClassification"),
    "video_preprocessor_config.json": ("AutoVideoProcessor",),
}


def check_hub_folder(folder: str | os.PathLike) -> list[str]:
    """
    Check that `folder` is a complete TANet Hub repository; return the files to upload (relative paths).

    Raises `FileNotFoundError` / `ValueError` naming what is missing: a required file (sharded weights with
    `model.safetensors.index.json` also count), an `auto_map` entry, or a remote-code file an `auto_map` names.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder.")
    missing = [
        name
        for name in REQUIRED_FILES
        if not (folder / name).is_file()
        and not (name == "model.safetensors" and (folder / "model.safetensors.index.json").is_file())
    ]
    if missing:
        raise FileNotFoundError(f"{folder} is not a complete TANet repository: missing {missing}.")
    for config_name, classes in _AUTO_CLASSES.items():
        auto_map = json.loads((folder / config_name).read_text(encoding="utf-8")).get("auto_map") or {}
        absent = [name for name in classes if name not in auto_map]
        if absent:
            raise ValueError(
                f"{folder / config_name} has no auto_map entry for {absent}: it would not load as remote code."
            )
        for reference in auto_map.values():
            module = (
                (reference[0] if isinstance(reference, (list, tuple)) else reference).split("--")[-1].rsplit(".", 1)[0]
            )
            if not (folder / f"{module}.py").is_file():
                raise FileNotFoundError(f"{config_name} names remote code {module}.py, which is not in {folder}.")
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
        and not any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(folder).parts)
    )


def retarget_card(card_text: str, repo_id: str) -> str:
    """Point a generated card at `repo_id`: its `model_name` and every usage snippet naming the old id."""
    card = ModelCard(card_text)
    old = getattr(card.data, "model_name", None)
    if not old or old == repo_id:
        return card_text
    return card_text.replace(old, repo_id)


def push_folder(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    revision: str | None = None,
    create_pr: bool = False,
    commit_message: str | None = None,
    endpoint: str | None = None,
) -> CommitInfo:
    """
    Upload a TANet folder (model, video processor, remote code, card) to `repo_id` as one commit.

    Args:
        folder: a folder written by `tanet-hf convert` or by `model.save_pretrained` + `processor.save_pretrained`
            + a `README.md` card.
        repo_id: `namespace/name`; the repository is created when it does not exist.
        private: create the repository private (ignored when it exists already).
        token: Hub token; defaults to `HF_TOKEN` or the saved login.
        revision: branch to commit to (created from `main` when missing).
        create_pr: open a pull request with the commit instead of committing to the branch.
        commit_message: defaults to "Upload TANet (model, video processor, remote code, card)".
        endpoint: Hub URL; defaults to `HF_ENDPOINT`.

    Returns:
        The `huggingface_hub.CommitInfo` (`.oid`, `.commit_url`, `.pr_url`).
    """
    folder = Path(folder)
    files = check_hub_folder(folder)
    api = HfApi(endpoint=endpoint, token=token)
    api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
    if revision is not None and not revision.startswith("refs/pr/"):
        api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
    operations = []
    for name in files:
        content: str | bytes = str(folder / name)
        if name == "README.md":
            card_text = (folder / name).read_text(encoding="utf-8")
            content = retarget_card(card_text, repo_id).encode("utf-8")
        operations.append(CommitOperationAdd(path_in_repo=name, path_or_fileobj=content))
    return api.create_commit(
        repo_id,
        operations,
        commit_message=commit_message or "Upload TANet (model, video processor, remote code, card)",
        revision=revision,
        create_pr=create_pr,
        repo_type="model",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="OUTPUT_DIR", help="Folder written by `tanet-hf convert` (or a trained one).")
    parser.add_argument("repo_id", metavar="REPO_ID", help="Target repository, `namespace/name`.")
    parser.add_argument("--private", action="store_true", help="Create the repository private.")
    parser.add_argument("--revision", help="Branch to push to (created when missing; default: main).")
    parser.add_argument("--create-pr", action="store_true", help="Open a pull request instead of committing.")
    parser.add_argument("--commit-message", help="Commit title.")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved `hf auth login` token).")


def run(args: argparse.Namespace) -> int:
    try:
        info = push_folder(
            args.folder,
            args.repo_id,
            private=True if args.private else None,
            token=args.token,
            revision=args.revision,
            create_pr=args.create_pr,
            commit_message=args.commit_message,
        )
    except (FileNotFoundError, ValueError) as error:
        print(f"tanet-hf push: error: {error}", file=sys.stderr)
        return 2
    print(info.pr_url or info.commit_url)
    return 0


__all__ = ["check_hub_folder", "push_folder", "retarget_card"]
