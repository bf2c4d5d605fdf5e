"""Signed revisions from the command line: ``init --require-signatures``, the signer in
``status`` and ``describe``, a signature hold as a Stalled problem, ``reconcile --reverify``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from typer.testing import CliRunner

from homeport.cli.main import app
from homeport.controller.source_keys import ADOPTED, HELD, REVERIFY
from homeport.controller.store import DesiredObject, Store
from homeport.source.signatures import read_repository_policy
from homeport.source.validate import validate_sources
from testkit.gitwork import machine

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SHA, HELD_SHA = "a" * 40, "b" * 40
SIGNATURE = {
    "sha": SHA,
    "signer": "alice@example.com",
    "key": "SHA256:QwKAoUM7h2v3qi8C/TSg3i7labM0fJ7run+5YHd4+eE",
    "format": "ssh",
    "verified": True,
}


def config_for(tmp_path: Path, *, signature: dict[str, object], held: bool) -> Path:
    store = Store.open(tmp_path / "state.db")
    result = validate_sources([("a.yaml", machine("a").encode())])
    desired = [DesiredObject(o.resource, o.file, o.line) for o in result.objects]
    store.objects.apply_revision(SHA, desired, NOW)
    store.source_state.set(
        ADOPTED, {"sha": SHA, "keys": [["Machine", "a"]], "signature": signature}
    )
    if held:
        message = f"signature check failed (tip): {HELD_SHA[:12]} (Mallory): not signed"
        store.source_state.set(
            HELD, {"sha": HELD_SHA, "reason": "UnverifiedSignature", "message": message}
        )
    store.close()
    path = tmp_path / "homeport.toml"
    path.write_text(
        f'[store]\npath = "{tmp_path / "state.db"}"\n[source]\nrepo = "{tmp_path / "estate.git"}"\n'
    )
    return path


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_status_and_describe_show_who_signed_the_running_revision(tmp_path: Path) -> None:
    config = config_for(tmp_path, signature=SIGNATURE, held=False)
    text = run("status", "--config", str(config))
    assert f"signed by alice@example.com (SSH key {SIGNATURE['key']})" in text
    document = json.loads(run("status", "--config", str(config), "-o", "json"))
    assert document["revision"]["signature"] == SIGNATURE
    assert document["problems"] == []
    text = run("describe", "machine", "a", "--config", str(config))
    assert f"Revision  {SHA[:12]}, signed by alice@example.com (SSH key " in text
    document = json.loads(run("describe", "machine", "a", "--config", str(config), "-o", "json"))
    assert document["revision"] == {"sha": SHA, "signature": SIGNATURE}


def test_a_signature_hold_is_a_stalled_problem(tmp_path: Path) -> None:
    revoked = {"sha": SHA, "verified": False, "problem": "signed by unknown SSH key SHA256:x"}
    config = config_for(tmp_path, signature=revoked, held=True)
    text = run("status", "--config", str(config))
    assert f"Stalled   {HELD_SHA[:12]}: signature check failed (tip)" in text
    assert "signature NOT verified: signed by unknown SSH key SHA256:x" in text
    problems = json.loads(run("status", "--config", str(config), "-o", "json"))["problems"]
    assert [(p["object"], p["state"]) for p in problems] == [
        (f"Revision/{HELD_SHA[:12]}", "Stalled"),
        (f"Revision/{SHA[:12]}", "UnverifiedSignature"),
    ]


def test_reconcile_reverify_records_a_durable_request(tmp_path: Path) -> None:
    config = config_for(tmp_path, signature=SIGNATURE, held=False)
    text = run("reconcile", "--reverify", "--config", str(config))
    assert "re-verification of the running revision requested" in text
    store = Store.open(tmp_path / "state.db", readonly=True)
    try:
        assert store.source_state.get(REVERIFY)
    finally:
        store.close()
    result = CliRunner().invoke(app, ["reconcile", "--config", str(config)])
    assert result.exit_code == 2  # neither KIND NAME nor --reverify


def test_init_require_signatures(tmp_path: Path) -> None:
    allowed = tmp_path / "allowed_signers"
    allowed.write_text("alice@example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI\n")
    repo = tmp_path / "estate.git"
    text = run(
        "init",
        "--repo",
        str(repo),
        "--require-signatures",
        "--allowed-signers",
        str(allowed),
    )
    assert "pushes must be signed (tip)" in text
    assert f"allowed_signers = '{allowed}'" in text
    policy = read_repository_policy(repo)
    assert (policy.policy, policy.allowed_signers) == ("tip", allowed)
    # Without trusted keys, or with a missing file, nothing is half-configured.
    result = CliRunner().invoke(
        app, ["init", "--repo", str(tmp_path / "x.git"), "--require-signatures"]
    )
    assert result.exit_code == 2
    assert not (tmp_path / "x.git").exists()
    missing = ["--allowed-signers", str(tmp_path / "nope")]
    result = CliRunner().invoke(
        app, ["init", "--repo", str(tmp_path / "y.git"), "--require-signatures", *missing]
    )
    assert result.exit_code == 1
    assert "allowed signers file not found" in result.output
    assert not (tmp_path / "y.git").exists()
