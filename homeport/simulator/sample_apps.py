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
    commit_release(
        repo, work, {"app.py": APP_PY, "README.md": f"# {name}\n"}, f"{name}: first release"
    )
    return repo


def work_clone(root: Path, name: str) -> Path:
    return root / ".work" / name
