"""Signed revisions: whether git says a commit was signed by one of the estate's owners.

No cryptography here: git verifies (``git log --format=%G?``), through ``ssh-keygen -Y
verify`` for SSH signatures (against ``gpg.ssh.allowedSignersFile``, passed with ``-c``,
never read from anyone's global config) and through ``gpg`` for OpenPGP ones (against
the keyring directory given as ``GNUPGHOME``). The pre-receive hook (``hooks.py``) judges
the pushed range; the daemon judges again at adoption (``controller/revisions.py``) and
when following another plane's adoption (``services/ha/revision_follow.py``).

The policy lives in two places that must agree to be relaxed: the daemon's ``[signatures]``
config and the bare repository's own git config (``homeport.signatures``,
``homeport.allowedSignersFile``, ``homeport.gpgHome``: what ``homeport init
--require-signatures`` writes and what the hook reads at every push, so a changed allowed
signers file counts from the next push on). The daemon uses the stricter of the two.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from homeport.source.git import ZERO_SHA, GitError, GitRepository, run_git

Policy = Literal["off", "tip", "every-commit"]
POLICIES: tuple[Policy, ...] = get_args(Policy)
CONFIG_POLICY = "homeport.signatures"
CONFIG_ALLOWED_SIGNERS = "homeport.allowedSignersFile"
CONFIG_GPG_HOME = "homeport.gpgHome"
_FIELDS = ("%H", "%G?", "%GF", "%GK", "%GS", "%an <%ae>")
_SSH_FINGERPRINT = "SHA256:"


def as_policy(word: str) -> Policy:
    """``word`` as a policy; an unknown word is not a reason to verify less: the strictest."""
    return word if word in POLICIES else "every-commit"


class SignatureConfigError(Exception):
    """The policy is on but cannot be applied (no keys, a missing file): fail closed."""


@dataclass(frozen=True)
class SignaturePolicy:
    policy: Policy = "off"
    allowed_signers: Path | None = None
    """git's SSH allowed signers file: one ``principal key`` per line."""
    gpg_home: Path | None = None
    """A GnuPG home directory whose keyring holds the trusted OpenPGP keys (and no others)."""

    @property
    def enabled(self) -> bool:
        return self.policy != "off"

    def stricter(self, other: SignaturePolicy) -> SignaturePolicy:
        """The stricter policy of the two; this one's key files win where both name one."""
        policy = max(self.policy, other.policy, key=POLICIES.index)
        return SignaturePolicy(
            policy=policy,
            allowed_signers=self.allowed_signers or other.allowed_signers,
            gpg_home=self.gpg_home or other.gpg_home,
        )

    def check(self) -> None:
        """Raise ``SignatureConfigError`` when the policy is on but unusable."""
        if not self.enabled:
            return
        if self.allowed_signers is None and self.gpg_home is None:
            raise SignatureConfigError(
                f"signature policy {self.policy!r} needs trusted keys: set [signatures] "
                "allowed_signers (git's SSH format) and/or gpg_home"
            )
        if self.allowed_signers is not None and not self.allowed_signers.is_file():
            raise SignatureConfigError(
                f"{self.allowed_signers}: allowed signers file not found (one `principal key`"
                " per line, e.g. `alice@example.com ssh-ed25519 AAAA...`)"
            )
        if self.gpg_home is not None and not self.gpg_home.is_dir():
            raise SignatureConfigError(
                f"{self.gpg_home}: GnuPG home not found (import the trusted keys with "
                f"`gpg --homedir {self.gpg_home} --import KEY.asc`)"
            )


def read_repository_policy(repo: Path) -> SignaturePolicy:
    """The policy recorded in the bare repository's own config (what the hook enforces)."""
    found = _repository_config(repo)
    allowed = found.get(CONFIG_ALLOWED_SIGNERS)
    gpg_home = found.get(CONFIG_GPG_HOME)
    return SignaturePolicy(
        policy=as_policy(found.get(CONFIG_POLICY, "off")),
        allowed_signers=Path(allowed) if allowed else None,
        gpg_home=Path(gpg_home) if gpg_home else None,
    )


def _repository_config(repo: Path) -> dict[str, str]:
    try:
        out = run_git(repo, "config", "--local", "--get-regexp", r"^homeport\.")
    except GitError:
        return {}  # exit 1: no such keys
    found = {}
    for line in out.decode().splitlines():
        key, _, value = line.partition(" ")
        found[key.lower()] = value
    return {
        name: found[name.lower()]
        for name in (CONFIG_POLICY, CONFIG_ALLOWED_SIGNERS, CONFIG_GPG_HOME)
        if name.lower() in found
    }


def write_repository_policy(repo: Path, policy: SignaturePolicy) -> None:
    """Record ``policy`` in the bare repository's config, for the pre-receive hook."""
    run_git(repo, "config", "--local", CONFIG_POLICY, policy.policy)
    for key, value in (
        (CONFIG_ALLOWED_SIGNERS, policy.allowed_signers),
        (CONFIG_GPG_HOME, policy.gpg_home),
    ):
        if value is not None:
            run_git(repo, "config", "--local", key, str(value.resolve()))


@dataclass(frozen=True)
class CommitSignature:
    """git's verdict on one commit's signature (``%G?`` and what goes with it)."""

    sha: str
    author: str
    verdict: str
    """G good, U good but unknown validity, N none, B bad, E cannot check, X/Y expired, R revoked."""
    key: str = ""
    """The signing key's fingerprint (``SHA256:...`` for SSH keys), or its id."""
    signer: str = ""
    """Who the key belongs to: the allowed signers' principal, or the OpenPGP user id."""

    @property
    def format(self) -> Literal["ssh", "openpgp", ""]:
        if self.verdict == "N":
            return ""
        return "ssh" if self.key.startswith(_SSH_FINGERPRINT) else "openpgp"

    @property
    def trusted(self) -> bool:
        # SSH's U is "no principal matched" (an unknown key); OpenPGP's U is a good signature
        # by a key of the trusted keyring that nobody certified: the keyring is the trust.
        return self.verdict == "G" or (self.verdict == "U" and self.format == "openpgp")

    def problem(self, policy: SignaturePolicy) -> str:
        """What is wrong and how to fix it (for a commit that is not ``trusted``)."""
        fix_sign = "sign it with `git commit -S` (`git commit --amend -S` for the last one)"
        if self.verdict == "N":
            return f"not signed; {fix_sign}"
        if self.verdict == "B":
            return (
                "bad signature: the commit was changed after it was signed; "
                "re-create it with `git commit --amend -S`"
            )
        if self.verdict in ("X", "Y", "R"):
            what = {"X": "the signature has expired", "Y": "the key has expired"}
            state = what.get(self.verdict, "the key is revoked")
            return f"signed by {self.format_name} key {self.key}, but {state}; {fix_sign} with a current key"
        return self._unknown_key(policy)

    @property
    def format_name(self) -> str:
        return "SSH" if self.format == "ssh" else "OpenPGP"

    def _unknown_key(self, policy: SignaturePolicy) -> str:
        where = policy.allowed_signers if self.format == "ssh" else policy.gpg_home
        if where is None:
            setting = "allowed_signers" if self.format == "ssh" else "gpg_home"
            return (
                f"signed by {self.format_name} key {self.key}, but {self.format_name} signatures "
                f"are not accepted here ([signatures] {setting} is not set); sign with a trusted key"
            )
        add = (
            f"add its owner's `principal public-key` line to {where}"
            if self.format == "ssh"
            else f"import it with `gpg --homedir {where} --import KEY.asc`"
        )
        return f"signed by unknown {self.format_name} key {self.key}; {add}, or sign with an allowed key"

    def render(self, policy: SignaturePolicy) -> str:
        return f"{self.sha[:12]} ({self.author}): {self.problem(policy)}"

    def provenance(self) -> dict[str, str]:
        """Who signed it, for the adopted revision's record (``homeport status``)."""
        return {"sha": self.sha, "signer": self.signer, "key": self.key, "format": self.format}


@dataclass(frozen=True)
class SignatureReport:
    """The verdicts on the commits a policy asks about; ``tip`` is the revision itself."""

    policy: SignaturePolicy
    commits: tuple[CommitSignature, ...]
    tip: CommitSignature

    @property
    def failures(self) -> tuple[CommitSignature, ...]:
        return tuple(c for c in self.commits if not c.trusted)

    @property
    def ok(self) -> bool:
        return not self.failures

    def lines(self) -> list[str]:
        return [c.render(self.policy) for c in self.failures]

    def summary(self) -> str:
        """One sentence for the hold's message and the event."""
        bad = self.failures
        if not bad:
            return f"{self.tip.sha[:12]} signed by {describe_signer(self.tip.provenance())}"
        first = bad[0].render(self.policy)
        more = f" (and {len(bad) - 1} more commit(s))" if len(bad) > 1 else ""
        return f"signature check failed ({self.policy.policy}): {first}{more}"


def describe_signer(provenance: Mapping[str, Any]) -> str:
    """``alice@example.com (SSH key SHA256:...)`` for status and describe."""
    name = "SSH" if provenance.get("format") == "ssh" else "OpenPGP"
    who = provenance.get("signer") or "?"
    return f"{who} ({name} key {provenance.get('key') or '?'})"


def verify_revision(
    repo: Path,
    policy: SignaturePolicy,
    new: str,
    *,
    since: str | None = None,
    env: Mapping[str, str] | None = None,
) -> SignatureReport:
    """Judge ``new`` under ``policy``: its own signature (``tip``), or with ``every-commit``
    every commit of ``new`` not reachable from ``since`` (the revision already trusted:
    the old head at push time, the adopted one at adoption; None: the whole history).
    ``env``: git's environment instead of this process's (a push in quarantine).

    Raises ``SignatureConfigError`` when the policy cannot be applied.
    """
    policy.check()
    tip = _log(repo, policy, ["-1", new], env)[0]
    if policy.policy != "every-commit":
        return SignatureReport(policy, (tip,), tip)
    # A ``since`` this repository no longer has (pruned after a force-push) excludes
    # nothing: the whole history is judged rather than a guess at what is new.
    known = since and since != ZERO_SHA and GitRepository(repo, env=env).has_commit(since)
    exclude = [f"^{since}"] if known else []
    commits = _log(repo, policy, [new, *exclude], env)
    if all(c.sha != tip.sha for c in commits):
        commits.insert(0, tip)  # ``new`` is behind ``since`` (a reset): still judge it
    return SignatureReport(policy, tuple(commits), tip)


def _log(
    repo: Path, policy: SignaturePolicy, revisions: list[str], env: Mapping[str, str] | None
) -> list[CommitSignature]:
    # Hermetic: every setting that changes the verdict or the output is passed here, and
    # the rest of the environment (GIT_DIR, the pre-receive quarantine's object
    # directories) is kept so that a hook reads the objects being pushed.
    allowed = policy.allowed_signers or Path(os.devnull)
    with _gpg_home(policy) as gpg_home:
        out = run_git(
            repo,
            "-c",
            f"gpg.ssh.allowedSignersFile={allowed}",
            "-c",
            "log.showSignature=false",
            "log",
            f"--format={'%x1f'.join(_FIELDS)}%x1e",
            *revisions,
            "--",
            env={**(os.environ if env is None else env), "GNUPGHOME": str(gpg_home)},
        )
    records = [r.strip("\n") for r in out.decode(errors="replace").split("\x1e")]
    return [_parse(r) for r in records if r]


def _parse(record: str) -> CommitSignature:
    sha, verdict, fingerprint, key_id, signer, author = record.split("\x1f")
    return CommitSignature(
        sha=sha, author=author, verdict=verdict, key=fingerprint or key_id, signer=signer
    )


@contextmanager
def _gpg_home(policy: SignaturePolicy) -> Iterator[Path]:
    """The trusted keyring, or an empty one: never the user's own ``~/.gnupg``."""
    if policy.gpg_home is not None:
        yield policy.gpg_home
        return
    import tempfile  # only with a policy on: every push without one skips its import

    with tempfile.TemporaryDirectory(prefix="homeport-gnupg-") as empty:
        yield Path(empty)
