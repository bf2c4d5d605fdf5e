"""git's verdicts (``%G?``) as homeport judges and explains them; the policy's merge. Pure."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeport.source.signatures import CommitSignature, SignaturePolicy, as_policy

SSH_KEY = "SHA256:QwKAoUM7h2v3qi8C/TSg3i7labM0fJ7run+5YHd4+eE"
PGP_KEY = "5C44E4E9990A13F148266EDB0D95C0999DA2F621"
POLICY = SignaturePolicy(
    "tip", allowed_signers=Path("/etc/homeport/allowed_signers"), gpg_home=Path("/etc/gnupg")
)


@pytest.mark.parametrize(
    ("verdict", "key", "trusted", "problem"),
    [
        ("G", SSH_KEY, True, None),
        ("U", PGP_KEY, True, None),  # a key of the trusted keyring nobody certified
        ("U", SSH_KEY, False, f"signed by unknown SSH key {SSH_KEY}; add its owner's"),
        ("E", PGP_KEY, False, f"unknown OpenPGP key {PGP_KEY}; import it with `gpg --homedir"),
        ("N", "", False, "not signed; sign it with `git commit -S`"),
        ("B", "", False, "bad signature: the commit was changed after it was signed"),
        ("X", PGP_KEY, False, f"OpenPGP key {PGP_KEY}, but the signature has expired"),
        ("Y", PGP_KEY, False, "but the key has expired; sign it with"),
        ("R", PGP_KEY, False, "but the key is revoked"),
    ],
)
def test_verdicts(verdict: str, key: str, trusted: bool, problem: str | None) -> None:
    commit = CommitSignature("f" * 40, "Alice <alice@example.com>", verdict, key, "alice")
    assert commit.trusted is trusted
    if problem is not None:
        line = commit.render(POLICY)
        assert line.startswith(f"{'f' * 12} (Alice <alice@example.com>): ")
        assert problem in line


def test_a_format_without_configured_keys_is_refused_as_such() -> None:
    ssh_only = SignaturePolicy("tip", allowed_signers=Path("/etc/homeport/allowed_signers"))
    commit = CommitSignature("f" * 40, "Bob", "E", PGP_KEY)
    assert "OpenPGP signatures are not accepted here ([signatures] gpg_home is not set)" in (
        commit.problem(ssh_only)
    )


def test_the_stricter_policy_wins_and_unknown_words_are_strictest() -> None:
    off = SignaturePolicy("off")
    tip = SignaturePolicy("tip", allowed_signers=Path("/a"))
    every = SignaturePolicy("every-commit", gpg_home=Path("/g"))
    assert off.stricter(tip) == tip
    assert tip.stricter(every) == SignaturePolicy(
        "every-commit", allowed_signers=Path("/a"), gpg_home=Path("/g")
    )
    assert every.stricter(off).policy == "every-commit"
    assert as_policy("tip") == "tip"
    assert as_policy("sometimes") == "every-commit"
