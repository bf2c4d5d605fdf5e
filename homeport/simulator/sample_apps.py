"""Git repositories of the example estate's apps, as the simulated "git.example.com".

Each app is a tiny real Python web service (``app.py`` reads ``HOST``/``PORT``, answers its
health path), so the repositories would deploy to real VMs too. In the simulator the
guest's sim app stands in for the process; a ``SIMULATE`` file in a release changes its
behaviour (e.g. ``health=500`` for a broken release).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

APP_PY = '''"""A minimal production app: health check, a greeting, its release."""
import http.server
import json
import os

RELEASE = os.path.basename(os.path.realpath("."))


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"app": os.environ.get("HOMEPORT_APP"), "release": RELEASE}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)


http.server.ThreadingHTTPServer((os.environ["HOST"], int(os.environ["PORT"])), Handler).serve_forever()
'''

LINE_APP_PY = '''"""A minimal key/value service speaking Redis's inline protocol (no HTTP): PING, INFO,
GET key, SET key value; values are files in HOMEPORT_DATA_DIR, so they replicate."""
import asyncio
import json
import os
import re

DATA = os.environ.get("HOMEPORT_DATA_DIR", "data")
KEY = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


def answer(line):
    words = line.split(" ", 2)
    command = words[0].upper()
    if command == "PING":
        return "+PONG"
    if command == "INFO":
        return "+" + json.dumps({"app": os.environ.get("HOMEPORT_APP"), "epoch": os.environ.get("HOMEPORT_EPOCH")})
    if command in ("GET", "SET") and len(words) == (2 if command == "GET" else 3) and KEY.match(words[1]):
        path = os.path.join(DATA, words[1])
        if command == "SET":
            os.makedirs(DATA, exist_ok=True)
            with open(path, "w") as handle:
                handle.write(words[2])
            return "+OK"
        return "+" + open(path).read() if os.path.exists(path) else "$-1"
    return "-ERR unknown command"


async def serve(reader, writer):
    while line := await reader.readline():
        writer.write(answer(line.decode().strip()).encode() + b"\\r\\n")
        await writer.drain()
    writer.close()


async def main():
    server = await asyncio.start_server(serve, os.environ["HOST"], int(os.environ["PORT"]))
    await server.serve_forever()


asyncio.run(main())
'''
LINE_APPS = frozenset({"sessions"})
"""Apps that do not speak HTTP: their releases carry ``SIMULATE`` ``protocol=line``, so the
guest runs the line-protocol sim app (``guest/lineapp.py``) in their place."""

ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "homeport sample",
    "GIT_AUTHOR_EMAIL": "sample@example.com",
    "GIT_COMMITTER_NAME": "homeport sample",
    "GIT_COMMITTER_EMAIL": "sample@example.com",
}


def _git(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=ENV, capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def commit_release(repo: Path, work: Path, files: dict[str, str], message: str) -> str:
    """Commit ``files`` on main in the bare ``repo`` (through the work clone); the new sha."""
    for name, content in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "":
            path.unlink(missing_ok=True)
        else:
            path.write_text(content)
    _git("add", "-A", cwd=work)
    _git("commit", "-q", "--allow-empty", "-m", message, cwd=work)
    _git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=work)
    return _git("rev-parse", "HEAD", cwd=work)


def ensure_app_repo(root: Path, name: str) -> Path:
    """``root/<name>.git`` with a first release; returns the bare repository."""
    repo = root / f"{name}.git"
    work = root / ".work" / name
    if repo.exists():
        return repo
    root.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", "--bare", "--initial-branch=main", str(repo))
    work.mkdir(parents=True, exist_ok=True)
    _git("init", "-q", "--initial-branch=main", cwd=work)
    _git("remote", "add", "origin", str(repo), cwd=work)
    files = {"app.py": APP_PY, "README.md": f"# {name}\n"}
    if name in LINE_APPS:
        files.update({"app.py": LINE_APP_PY, "SIMULATE": "protocol=line\n"})
    commit_release(repo, work, files, f"{name}: first release")
    return repo


def work_clone(root: Path, name: str) -> Path:
    return root / ".work" / name
