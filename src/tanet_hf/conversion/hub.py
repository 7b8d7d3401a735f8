# Copyright 2026 The tanet_hf authors. Licensed under the Apache License, Version 2.0.
"""Push a converted or trained TANet folder to the Hugging Face Hub in one commit (`tanet-hf push`).

The folder must be a complete repository — weights, `config.json` with its `auto_map`, the video processor's
config, every remote-code file both name, and a `README.md` model card — so that what lands on the Hub loads with
`from_pretrained(..., trust_remote_code=True)` and `pipeline(...)` without `tanet_hf` installed. Symbolic links
that point outside the folder are never uploaded (a link to `~/.ssh` must not leak); links inside it are.

The push goes through `HfApi.upload_folder`. Authentication follows huggingface_hub: `token=` if given, else
`HF_TOKEN`, else the token saved by `hf auth login`; a missing token is reported before any work is done. The
endpoint is `HF_ENDPOINT` (default https://huggingface.co). Every HTTP request has a bounded timeout (`timeout=`,
`--timeout`, default 60 s per request), so an endpoint that accepts and never answers fails instead of hanging,
and network or HTTP failures surface as one-line [`HubPushError`]s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

import httpx2
from huggingface_hub import CommitInfo, HfApi, ModelCard, get_token
from huggingface_hub.errors import HfHubHTTPError
from huggingface_hub.utils import _http as hub_http

DEFAULT_TIMEOUT_S = 60.0


class HubPushError(RuntimeError):
    """A push that failed on the network or at the Hub; the message is one line naming the endpoint and the cause."""


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
    root = folder.resolve()
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
        and path.resolve().is_relative_to(root)  # a symlink out of the folder is never uploaded
        and not any(part.startswith(".") or part == "__pycache__" for part in path.relative_to(folder).parts)
    )


def retarget_card(card_text: str, repo_id: str) -> str:
    """Point a generated card at `repo_id`: its `model_name` and every usage snippet naming the old id."""
    card = ModelCard(card_text)
    old = getattr(card.data, "model_name", None)
    if not old or old == repo_id:
        return card_text
    return card_text.replace(old, repo_id)


@contextlib.contextmanager
def bounded_timeouts(timeout: float):
    """
    Give every request huggingface_hub makes inside the block a `timeout`-second limit on connecting, reading and
    writing (its default client waits forever). The previous client factory is restored afterwards.
    """
    if not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}.")
    previous = getattr(hub_http, "_GLOBAL_CLIENT_FACTORY", hub_http.default_client_factory)

    def factory() -> httpx2.Client:
        client = previous()
        client.timeout = httpx2.Timeout(timeout)
        return client

    hub_http.set_client_factory(factory)
    try:
        yield
    finally:
        hub_http.set_client_factory(previous)


def _first_line(error: BaseException, default: str) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else default


def _one_line(error: BaseException, endpoint: str, timeout: float) -> str:
    """The cause of a failed push in one line: refused, timed out, 401, or the Hub's own first message line."""
    if isinstance(error, httpx2.TimeoutException):
        return f"the Hub at {endpoint} did not answer within {timeout:g} s (timeout; raise it with --timeout)."
    if isinstance(error, httpx2.ConnectError):
        return f"cannot connect to the Hub at {endpoint} ({_first_line(error, 'connection refused')})."
    if isinstance(error, HfHubHTTPError):
        status = getattr(error.response, "status_code", None)
        if status == 401:
            return f"the Hub at {endpoint} refused the token (401 Unauthorized); check HF_TOKEN / --token / `hf auth login`."
        if status == 403:
            return f"the Hub at {endpoint} refused the push (403 Forbidden): the token cannot write to this repository."
        return f"the Hub at {endpoint} answered {status}: {_first_line(error, 'no message')}"
    if isinstance(error, httpx2.HTTPError):
        return f"network error talking to the Hub at {endpoint}: {type(error).__name__}: {_first_line(error, 'no message')}"
    raise error


def _stage(folder: Path, files: list[str], repo_id: str, staging: Path) -> None:
    """Fill `staging` with links to the checked files and the card retargeted at `repo_id`."""
    for name in files:
        target = staging / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if name == "README.md":
            card_text = (folder / name).read_text(encoding="utf-8")
            target.write_text(retarget_card(card_text, repo_id), encoding="utf-8")
        else:
            target.symlink_to((folder / name).resolve())


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
    timeout: float = DEFAULT_TIMEOUT_S,
) -> CommitInfo:
    """
    Upload a TANet folder (model, video processor, remote code, card) to `repo_id` as one commit.

    Args:
        folder: a folder written by `tanet-hf convert` or by `model.save_pretrained` + `processor.save_pretrained`
            + a `README.md` card.
        repo_id: `namespace/name`; the repository is created when it does not exist.
        private: create the repository private (ignored when it exists already).
        token: Hub token; defaults to `HF_TOKEN` or the saved login. Checked first: none at all raises at once.
        revision: branch to commit to (created from `main` when missing).
        create_pr: open a pull request with the commit instead of committing to the branch.
        commit_message: defaults to "Upload TANet (model, video processor, remote code, card)".
        endpoint: Hub URL; defaults to `HF_ENDPOINT`.
        timeout: seconds any one HTTP request may take (connect, read, write).

    Returns:
        The `huggingface_hub.CommitInfo` (`.oid`, `.commit_url`, `.pr_url`).

    Raises:
        HubPushError: no token, or a refused connection, timeout or HTTP error (one line).
        FileNotFoundError / ValueError: the folder is incomplete ([`check_hub_folder`]); no request was sent.
    """
    token = token or get_token()
    if not token:
        raise HubPushError("no Hub token: pass --token, set HF_TOKEN or run `hf auth login` (nothing was uploaded).")
    folder = Path(folder)
    files = check_hub_folder(folder)
    api = HfApi(endpoint=endpoint, token=token)
    with bounded_timeouts(timeout), tempfile.TemporaryDirectory(prefix="tanet-push-") as staging:
        _stage(folder, files, repo_id, Path(staging))
        try:
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            if revision is not None and not revision.startswith("refs/pr/"):
                api.create_branch(repo_id, branch=revision, exist_ok=True, repo_type="model")
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=staging,
                commit_message=commit_message or "Upload TANet (model, video processor, remote code, card)",
                revision=revision,
                create_pr=create_pr,
                repo_type="model",
            )
        except (httpx2.HTTPError, HfHubHTTPError) as error:
            raise HubPushError(_one_line(error, api.endpoint, timeout)) from error


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", metavar="OUTPUT_DIR", help="Folder written by `tanet-hf convert` (or a trained one).")
    parser.add_argument("repo_id", metavar="REPO_ID", help="Target repository, `namespace/name`.")
    parser.add_argument("--private", action="store_true", help="Create the repository private.")
    parser.add_argument("--revision", help="Branch to push to (created when missing; default: main).")
    parser.add_argument("--create-pr", action="store_true", help="Open a pull request instead of committing.")
    parser.add_argument("--commit-message", help="Commit title.")
    parser.add_argument("--token", help="Hub token (default: HF_TOKEN or the saved `hf auth login` token).")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        help=f"Seconds per HTTP request (default: {DEFAULT_TIMEOUT_S:g}).",
    )


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
            timeout=args.timeout,
        )
    except (HubPushError, FileNotFoundError, ValueError) as error:
        print(f"tanet-hf push: error: {error}", file=sys.stderr)
        return 2
    print(info.pr_url or info.commit_url)
    return 0


__all__ = ["HubPushError", "bounded_timeouts", "check_hub_folder", "push_folder", "retarget_card"]
