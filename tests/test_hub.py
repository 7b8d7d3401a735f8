"""Pushing to the Hub, end to end on loopback (tests/hub_server.py), and loading what was pushed as remote code.

The chain under test: a release-layout checkpoint → `tanet-hf convert` → `tanet-hf push` (and `model.push_to_hub`)
→ the Hub's HTTP endpoints → `from_pretrained(..., trust_remote_code=True)` and `pipeline(...)` in a process where
`tanet_hf` cannot be imported → the source network's logits.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch
from hub_server import LocalHub
from remote_code import run_python_without_tanet_hf
from source_networks import TINY, ReleaseTSN, randomize_
from video_factory import make_video

from tanet_hf.cli import main as cli_main
from tanet_hf.conversion.convert import convert_checkpoint
from tanet_hf.conversion.hub import HubPushError, check_hub_folder, push_folder

TOKEN = "hf_loopback_test_token"
FRAMES, CLASSES = 8, 400


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """A converted folder, the source network's logits on a fixed clip, and a video file."""
    root = tmp_path_factory.mktemp("hub")
    network = randomize_(ReleaseTSN(FRAMES, CLASSES, **TINY), seed=21)
    torch.save(network.checkpoint(), root / "ckpt.best.pth.tar")
    folder = convert_checkpoint(root / "ckpt.best.pth.tar", root / "tanet-tiny-k400", labels="kinetics400")
    clip = torch.randn(1, FRAMES, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.save({"clip": clip, "logits": network(clip)}, root / "expected.pt")
    make_video(root / "video.mp4", num_frames=40, size=(80, 64), pattern="texture")
    return root, folder


def _online_env(hub: LocalHub, home) -> dict[str, str]:
    """Environment of a process talking to the loopback Hub: online, token in HF_TOKEN, fresh cache."""
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "PYTHONPATH")}
    env.update(HF_ENDPOINT=hub.url, HF_TOKEN=TOKEN, HF_HOME=str(home), HF_HUB_DISABLE_XET="1")
    return env


def test_push_and_load_as_remote_code(converted, tmp_path):
    root, folder = converted
    with LocalHub(token=TOKEN) as hub:
        push = textwrap.dedent(f"""
            import sys
            from tanet_hf import TANetForVideoClassification
            from tanet_hf.cli import main
            assert main(["push", {str(folder)!r}, "me/tanet-tiny-k400", "--private"]) == 0
            model = TANetForVideoClassification.from_pretrained({str(folder)!r})
            model.push_to_hub("me/tanet-model-only", commit_message="model.push_to_hub")
        """)
        result = subprocess.run(
            [sys.executable, "-c", push],
            env=_online_env(hub, tmp_path / "home-push"),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert result.returncode == 0, result.stderr[-4000:]
        assert f"{hub.url}/me/tanet-tiny-k400/commit/" in result.stdout

        # One commit holding model, processor, remote code and the card, in a private repository.
        repo = hub.repos["me/tanet-tiny-k400"]
        assert repo.private and len(repo.commits) == 2  # the repository's initial commit + ours
        pushed = hub.files("me/tanet-tiny-k400")
        assert sorted(pushed) == check_hub_folder(folder)
        assert pushed["model.safetensors"] == (folder / "model.safetensors").read_bytes()
        assert "model.safetensors" in repo.commits[repo.refs["main"]].lfs  # weights went through LFS
        card = pushed["README.md"].decode()
        assert 'model="me/tanet-tiny-k400"' in card and "tanet-hf/" not in card  # retargeted to the pushed id
        assert hub.validated and all(errors == [] for _, errors in hub.validated)  # metadata accepted
        assert all(auth == f"Bearer {TOKEN}" for method, path, auth in hub.requests if "/commit/" in path)
        assert {"config.json", "model.safetensors", "modeling_tanet.py"} <= set(hub.files("me/tanet-model-only"))

        load = f"""
            import os, torch
            os.environ.pop("HF_HUB_OFFLINE", None); os.environ.pop("TRANSFORMERS_OFFLINE", None)
            os.environ.update(HF_ENDPOINT={hub.url!r}, HF_TOKEN={TOKEN!r}, HF_HOME={str(tmp_path / "home-load")!r})
            from transformers import AutoModelForVideoClassification, pipeline

            expected = torch.load({str(root / "expected.pt")!r}, weights_only=True)
            for repo_id in ("me/tanet-tiny-k400", "me/tanet-model-only"):
                model = AutoModelForVideoClassification.from_pretrained(repo_id, trust_remote_code=True).eval()
                assert type(model).__module__.startswith("transformers_modules."), type(model).__module__
                with torch.no_grad():
                    logits = model(expected["clip"]).logits
                torch.testing.assert_close(logits, expected["logits"], rtol=1e-5, atol=1e-5)

            classifier = pipeline("video-classification", model="me/tanet-tiny-k400", trust_remote_code=True)
            predictions = classifier({str(root / "video.mp4")!r}, top_k=3)
            labels = set(classifier.model.config.id2label.values())
            assert len(predictions) == 3 and all(p["label"] in labels for p in predictions), predictions
            print("LOADED", [p["label"] for p in predictions])
        """
        loaded = run_python_without_tanet_hf(load, cwd=tmp_path)
        assert "LOADED" in loaded.stdout


@pytest.fixture
def online_in_process(monkeypatch):
    """Let this process's huggingface_hub talk to a loopback endpoint (the suite runs with HF_HUB_OFFLINE=1)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_push_to_a_branch_and_as_a_pull_request(converted, online_in_process):
    _, folder = converted
    with LocalHub(token=TOKEN) as hub:
        info = push_folder(folder, "me/tanet", endpoint=hub.url, token=TOKEN, revision="v1.0", commit_message="first")
        repo = hub.repos["me/tanet"]
        assert not repo.private and hub.files("me/tanet", "main") == {}  # main keeps only the initial commit
        assert sorted(hub.files("me/tanet", "v1.0")) == check_hub_folder(folder)
        assert info.oid == repo.refs["v1.0"] and repo.commits[info.oid].message == "first"

        pr = push_folder(folder, "me/tanet", endpoint=hub.url, token=TOKEN, create_pr=True)
        assert pr.pr_url == f"{hub.url}/me/tanet/discussions/1"
        assert sorted(hub.files("me/tanet", "refs/pr/1")) == check_hub_folder(folder)
        assert hub.files("me/tanet", "main") == {}

        with pytest.raises(Exception, match="401|Unauthorized|credentials"):
            push_folder(folder, "me/other", endpoint=hub.url, token="wrong-token")


def test_incomplete_folders_are_refused(converted, tmp_path):
    _, folder = converted
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("config.json", "model.safetensors", "README.md", "configuration_tanet.py", "modeling_tanet.py"):
        (partial / name).write_bytes((folder / name).read_bytes())
    with pytest.raises(FileNotFoundError, match=r"missing \['video_preprocessor_config.json'\]"):
        push_folder(partial, "me/partial", endpoint="http://127.0.0.1:9", token=TOKEN)  # refused before any request
    (partial / "video_preprocessor_config.json").write_bytes((folder / "video_preprocessor_config.json").read_bytes())
    with pytest.raises(FileNotFoundError, match="video_processing_tanet.py"):
        check_hub_folder(partial)
    config = json.loads((partial / "config.json").read_text())
    del config["auto_map"]["AutoModel"]
    (partial / "config.json").write_text(json.dumps(config))
    (partial / "video_processing_tanet.py").write_bytes((folder / "video_processing_tanet.py").read_bytes())
    with pytest.raises(ValueError, match=r"no auto_map entry for \['AutoModel'\]"):
        check_hub_folder(partial)


def _copy_folder(folder, target):
    target.mkdir()
    for path in folder.iterdir():
        if path.is_file():
            (target / path.name).write_bytes(path.read_bytes())
    return target


@pytest.fixture
def silent_endpoint():
    """A loopback endpoint that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted = []
    stop = threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}", accepted
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def test_an_endpoint_that_never_answers_fails_within_the_timeout(converted, online_in_process, silent_endpoint):
    _, folder = converted
    url, accepted = silent_endpoint
    start = time.monotonic()
    with pytest.raises(HubPushError, match=r"did not answer within 0\.5 s") as caught:
        push_folder(folder, "me/tanet", endpoint=url, token=TOKEN, timeout=0.5)
    assert time.monotonic() - start < 30 and accepted  # it connected, waited a bounded time, gave up
    assert "\n" not in str(caught.value)


def test_refused_connection_and_bad_token_are_one_line_errors(converted, online_in_process, capsys, monkeypatch):
    _, folder = converted
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", f"http://127.0.0.1:{closed}")
    assert cli_main(["push", str(folder), "me/tanet", "--token", TOKEN, "--timeout", "5"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("tanet-hf push: error: cannot connect to the Hub at http://127.0.0.1:")
        and "Traceback" not in err
    )
    assert err.count("\n") == 1

    with LocalHub(token=TOKEN) as hub:
        monkeypatch.setattr("huggingface_hub.constants.ENDPOINT", hub.url)
        assert cli_main(["push", str(folder), "me/tanet", "--token", "wrong"]) == 2
        err = capsys.readouterr().err
        assert "refused the token (401 Unauthorized)" in err and err.count("\n") == 1 and "Traceback" not in err
        assert "me/tanet" not in hub.repos


def test_a_missing_token_is_reported_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("tanet_hf.conversion.hub.get_token", lambda: None)
    with pytest.raises(HubPushError, match="no Hub token"):
        push_folder(tmp_path / "does-not-exist", "me/tanet", endpoint="http://127.0.0.1:9")  # folder not even read
    assert cli_main(["push", str(tmp_path / "does-not-exist"), "me/tanet"]) == 2
    assert "no Hub token" in capsys.readouterr().err


def test_symlinks_out_of_the_folder_are_not_uploaded(converted, online_in_process, tmp_path):
    _, folder = converted
    copy = _copy_folder(folder, tmp_path / "copy")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not upload")
    (copy / "leak.txt").symlink_to(secret)
    (copy / "outside").symlink_to(tmp_path, target_is_directory=True)
    (copy / "notes.txt").write_text("inside")
    (copy / "notes-link.txt").symlink_to(copy / "notes.txt")
    files = check_hub_folder(copy)
    assert "leak.txt" not in files and not any(name.startswith("outside/") for name in files)
    assert {"notes.txt", "notes-link.txt"} <= set(files)
    with LocalHub(token=TOKEN) as hub:
        push_folder(copy, "me/tanet", endpoint=hub.url, token=TOKEN)
        pushed = hub.files("me/tanet")
    assert sorted(pushed) == files and b"do not upload" not in b"".join(pushed.values())
    assert pushed["notes-link.txt"] == b"inside"
