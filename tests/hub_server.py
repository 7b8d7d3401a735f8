"""A small in-memory Hugging Face Hub on 127.0.0.1 for push / download tests (no network, no git).

It speaks the HTTP endpoints that `huggingface_hub` (`create_repo`, `create_branch`, `create_commit` /
`upload_folder`, the LFS "basic" transfer, `hf_hub_download`, `repo_info`) and transformers' `push_to_hub` /
`from_pretrained` call, with the responses and headers those clients read:

| endpoint | used by |
|---|---|
| `POST /api/repos/create` | `create_repo` (409 when it exists) |
| `POST /api/models/{repo}/branch/{branch}` | `create_branch` |
| `POST /api/models/{repo}/preupload/{rev}` | commit: regular blob or LFS per file (`*.safetensors` → LFS) |
| `POST /{repo}.git/info/lfs/objects/batch`, `PUT /lfs-objects/{oid}` | LFS basic upload (set `HF_HUB_DISABLE_XET=1`) |
| `POST /api/models/{repo}/commit/{rev}` | the commit (ndjson: header, `file`, `lfsFile`); `create_pr=1` opens `refs/pr/N` |
| `POST /api/validate-yaml` | `create_commit` checks a README's metadata (here: YAML mapping, parsable `model-index`) |
| `GET /api/models/{repo}[/revision/{rev}]` | `repo_info` / `model_info` |
| `HEAD`/`GET /{repo}/resolve/{rev}/{path}` | `hf_hub_download` (`X-Repo-Commit`, `ETag`, `X-Linked-Etag`) |

Private repositories answer 404 `RepoNotFound` to requests without the server's token, as the Hub does.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

REPO = r"(?P<repo>[\w.-]+/[\w.-]+)"


@dataclass
class Commit:
    oid: str
    message: str
    files: dict[str, bytes]
    lfs: set[str]  # paths stored through LFS


@dataclass
class Repository:
    private: bool
    refs: dict[str, str] = field(default_factory=dict)  # branch or refs/pr/N → commit oid
    commits: dict[str, Commit] = field(default_factory=dict)
    pull_requests: int = 0


class LocalHub:
    """`with LocalHub(token="hf_x") as hub:` → `hub.url` is an `HF_ENDPOINT`; `hub.repos` and `hub.requests` to inspect."""

    def __init__(self, token: str | None = None):
        self.token = token
        self.repos: dict[str, Repository] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Authorization header)
        self.validated: list[tuple[str, list[str]]] = []  # (README metadata, errors) seen by /api/validate-yaml
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LocalHub:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[repo.refs[revision]].files

    # ------------------------------------------------------------------ request handling

    def _handler_class(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def _reply(
                self, status: int, body: bytes | dict | None = None, headers: dict | None = None, head: bool = False
            ):
                data = json.dumps(body).encode() if isinstance(body, dict) else (body or b"")
                self.send_response(status)
                content_type = "application/json" if isinstance(body, dict) else "application/octet-stream"
                for key, value in {
                    "Content-Type": content_type,
                    "Content-Length": str(len(data)),
                    **(headers or {}),
                }.items():
                    self.send_header(key, value)
                self.end_headers()
                if not head:
                    self.wfile.write(data)

            def _error(self, status: int, code: str, message: str, head: bool = False):
                self._reply(status, {"error": message}, {"X-Error-Code": code, "X-Error-Message": message}, head=head)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _authorised(self) -> bool:
                return hub.token is None or self.headers.get("Authorization") == f"Bearer {hub.token}"

            def _repo(self, repo_id: str, head: bool = False) -> Repository | None:
                repo = hub.repos.get(repo_id)
                if repo is None or (repo.private and not self._authorised()):
                    self._error(404, "RepoNotFound", f"Repository {repo_id} not found", head=head)
                    return None
                return repo

            def _dispatch(self, method: str):
                url = urlsplit(self.path)
                path, query = unquote(url.path), parse_qs(url.query)
                hub.requests.append((method, path, self.headers.get("Authorization")))
                with hub._lock:
                    for pattern, handler in ROUTES.get(method, []):
                        match = re.fullmatch(pattern, path)
                        if match:
                            return handler(self, query=query, **match.groupdict())
                self._error(404, "EntryNotFound", f"no route for {method} {path}", head=method == "HEAD")

            def do_GET(self):
                self._dispatch("GET")

            def do_HEAD(self):
                self._dispatch("HEAD")

            def do_POST(self):
                self._dispatch("POST")

            def do_PUT(self):
                self._dispatch("PUT")

            # ---- repositories and branches

            def create_repo(self, query):
                if not self._authorised():
                    return self._error(401, "Unauthorized", "Invalid credentials")
                payload = json.loads(self._body())
                repo_id = f"{payload.get('organization')}/{payload['name']}"
                if repo_id in hub.repos:  # the Hub's 409 still carries the url, which `exist_ok=True` returns
                    body = {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"}
                    return self._reply(409, body, {"X-Error-Code": "RepoExists"})
                private = bool(payload.get("private")) or payload.get("visibility") == "private"
                repo = Repository(private=private)
                initial = Commit(oid=_oid(repo_id, "initial"), message="initial commit", files={}, lfs=set())
                repo.commits[initial.oid], repo.refs["main"] = initial, initial.oid
                hub.repos[repo_id] = repo
                self._reply(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})

            def create_branch(self, query, repo, branch):
                repository = self._repo(repo)
                if repository is None:
                    return
                payload = json.loads(self._body() or b"{}")
                if branch in repository.refs:
                    return self._error(409, "BranchExists", f"Branch {branch} already exists")
                start = payload.get("startingPoint") or "main"
                repository.refs[branch] = repository.refs.get(start, start)
                self._reply(200, {})

            def repo_info(self, query, repo, revision="main"):
                repository = self._repo(repo)
                if repository is None:
                    return
                if revision not in repository.refs:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                oid = repository.refs[revision]
                files = repository.commits[oid].files
                self._reply(
                    200,
                    {
                        "id": repo,
                        "modelId": repo,
                        "sha": oid,
                        "private": repository.private,
                        "siblings": [{"rfilename": name} for name in sorted(files)],
                    },
                )

            # ---- uploads

            def validate_yaml(self, query):
                import yaml
                from huggingface_hub.repocard import REGEX_YAML_BLOCK
                from huggingface_hub.repocard_data import model_index_to_eval_results

                content = json.loads(self._body())["content"]
                errors = []
                try:
                    block = REGEX_YAML_BLOCK.search(content)
                    metadata = yaml.safe_load(block.group(2)) if block else {}
                    if not isinstance(metadata, dict):
                        errors.append("metadata must be a YAML mapping")
                    elif "model-index" in metadata:
                        model_index_to_eval_results(metadata["model-index"])
                except Exception as error:  # noqa: BLE001 - any parse failure is a validation error
                    errors.append(f"{type(error).__name__}: {error}")
                hub.validated.append((content, errors))
                if errors:
                    return self._reply(400, {"errors": [{"message": e} for e in errors], "warnings": []})
                self._reply(200, {"errors": [], "warnings": []})

            def preupload(self, query, repo, revision):
                if self._repo(repo) is None:
                    return
                files = json.loads(self._body())["files"]
                modes = [
                    {
                        "path": f["path"],
                        "uploadMode": "lfs" if f["path"].endswith(".safetensors") else "regular",
                        "shouldIgnore": False,
                    }
                    for f in files
                ]
                self._reply(200, {"files": modes})

            def lfs_batch(self, query, repo):
                if self._repo(repo) is None:
                    return
                payload = json.loads(self._body())
                objects = []
                for obj in payload["objects"]:
                    entry = {"oid": obj["oid"], "size": obj["size"]}
                    if obj["oid"] not in hub.lfs_objects:
                        entry["actions"] = {"upload": {"href": f"{hub.url}/lfs-objects/{obj['oid']}"}}
                    objects.append(entry)
                self._reply(200, {"transfer": "basic", "objects": objects})

            def lfs_put(self, query, oid):
                data = self._body()
                if hashlib.sha256(data).hexdigest() != oid:
                    return self._error(400, "BadRequest", "sha256 does not match the object id")
                hub.lfs_objects[oid] = data
                self._reply(200, {})

            def commit(self, query, repo, revision):
                repository = self._repo(repo)
                if repository is None:
                    return
                if not self._authorised():
                    return self._error(401, "Unauthorized", "Invalid credentials")
                lines = [json.loads(line) for line in self._body().decode().splitlines() if line.strip()]
                header = next(line["value"] for line in lines if line["key"] == "header")
                if revision not in repository.refs:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
                parent = repository.commits[repository.refs[revision]]
                files, lfs = dict(parent.files), set(parent.lfs)
                for line in lines:
                    value = line["value"]
                    if line["key"] == "file":
                        files[value["path"]] = base64.b64decode(value["content"])
                        lfs.discard(value["path"])
                    elif line["key"] == "lfsFile":
                        if value["oid"] not in hub.lfs_objects:
                            return self._error(400, "BadRequest", f"LFS object {value['oid']} was never uploaded")
                        files[value["path"]] = hub.lfs_objects[value["oid"]]
                        lfs.add(value["path"])
                    elif line["key"] == "deletedFile":
                        files.pop(value["path"], None)
                new = Commit(
                    oid=_oid(repo, header["summary"], len(repository.commits)),
                    message=header["summary"],
                    files=files,
                    lfs=lfs,
                )
                repository.commits[new.oid] = new
                body = {"commitUrl": f"{hub.url}/{repo}/commit/{new.oid}", "commitOid": new.oid}
                if query.get("create_pr") == ["1"]:
                    repository.pull_requests += 1
                    repository.refs[f"refs/pr/{repository.pull_requests}"] = new.oid
                    body["pullRequestUrl"] = f"{hub.url}/{repo}/discussions/{repository.pull_requests}"
                else:
                    repository.refs[revision] = new.oid
                self._reply(200, body)

            # ---- downloads

            def resolve(self, query, repo, revision, filename, head=False):
                repository = self._repo(repo, head=head)
                if repository is None:
                    return
                oid = repository.refs.get(revision, revision if revision in repository.commits else None)
                if oid is None:
                    return self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", head=head)
                commit = repository.commits[oid]
                if filename not in commit.files:
                    return self._error(404, "EntryNotFound", f"{filename} does not exist at {revision}", head=head)
                data = commit.files[filename]
                headers = {"X-Repo-Commit": oid, "ETag": f'"{hashlib.sha1(data).hexdigest()}"'}
                if filename in commit.lfs:
                    headers.update(
                        {"X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"', "X-Linked-Size": str(len(data))}
                    )
                self._reply(200, data, headers, head=head)

            def resolve_head(self, query, repo, revision, filename):
                self.resolve(query, repo, revision, filename, head=True)

        ROUTES = {
            "POST": [
                (r"/api/repos/create", Handler.create_repo),
                (r"/api/validate-yaml", Handler.validate_yaml),
                (rf"/api/models/{REPO}/branch/(?P<branch>.+)", Handler.create_branch),
                (rf"/api/models/{REPO}/preupload/(?P<revision>.+)", Handler.preupload),
                (rf"/api/models/{REPO}/commit/(?P<revision>.+)", Handler.commit),
                (rf"/{REPO}\.git/info/lfs/objects/batch", Handler.lfs_batch),
            ],
            "PUT": [(r"/lfs-objects/(?P<oid>[0-9a-f]{64})", Handler.lfs_put)],
            "GET": [
                (rf"/api/models/{REPO}/revision/(?P<revision>.+)", Handler.repo_info),
                (rf"/api/models/{REPO}", Handler.repo_info),
                (rf"/{REPO}/resolve/(?P<revision>refs/pr/\d+|[^/]+)/(?P<filename>.+)", Handler.resolve),
            ],
            "HEAD": [(rf"/{REPO}/resolve/(?P<revision>refs/pr/\d+|[^/]+)/(?P<filename>.+)", Handler.resolve_head)],
        }
        return Handler


def _oid(*parts) -> str:
    return hashlib.sha1("/".join(map(str, parts)).encode()).hexdigest()
