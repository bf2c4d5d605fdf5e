"""The daemon's side of signed revisions: which policy applies, and judging a revision.

The policy is the stricter of ``[signatures]`` and the one recorded in the bare
repository (``source/signatures.py``): neither an edited repository config nor a
forgotten config line turns the check off alone. At start the daemon records its own
policy in the repository (``publish``) so the pre-receive hook enforces it too. The
revision sync (``revisions.py``) and the HA revision follower (``ha/revision_follow.py``)
ask ``SignatureGate.judge`` before adopting or following a commit.
"""

from __future__ import annotations

from pathlib import Path

from homeport.controller.config import Settings, SignaturesSettings
from homeport.source.git import GitError
from homeport.source.signatures import (
    SignatureConfigError,
    SignaturePolicy,
    SignatureReport,
    read_repository_policy,
    verify_revision,
    write_repository_policy,
)


def configured_policy(settings: SignaturesSettings) -> SignaturePolicy:
    return SignaturePolicy(
        policy=settings.policy,
        allowed_signers=settings.allowed_signers,
        gpg_home=settings.gpg_home,
    )


class SignatureGate:
    """Judges revisions of one repository; re-reads the policy and keys every time, so a
    rotated key counts from the next revision on."""

    def __init__(self, repo: Path, configured: SignaturePolicy) -> None:
        self.repo = repo
        self.configured = configured

    @classmethod
    def for_settings(cls, settings: Settings) -> SignatureGate | None:
        """None for a directory source (it has no commits to sign)."""
        if settings.source.repo is None:
            return None
        return cls(settings.source.repo, configured_policy(settings.signatures))

    def policy(self) -> SignaturePolicy:
        return self.configured.stricter(read_repository_policy(self.repo))

    def publish(self) -> None:
        """Record the configured policy in the repository, for the pre-receive hook (only
        ever strengthening what the repository already enforces)."""
        if self.configured.enabled:
            write_repository_policy(self.repo, self.policy())

    def judge(self, sha: str, *, since: str | None) -> SignatureReport | None:
        """The verdict on ``sha`` (and, with ``every-commit``, what came after ``since``);
        None when the policy is off. Raises ``SignatureConfigError`` when it cannot judge."""
        policy = self.policy()
        if not policy.enabled:
            return None
        return verify_revision(self.repo, policy, sha, since=since)

    def check(self, sha: str, *, since: str | None) -> tuple[SignatureReport | None, str | None]:
        """(verdict, why ``sha`` is refused or None); a policy that cannot be applied
        refuses (fail closed)."""
        try:
            verdict = self.judge(sha, since=since)
        except (SignatureConfigError, GitError) as exc:
            return None, f"signatures cannot be verified: {exc}"
        if verdict is None or verdict.ok:
            return verdict, None
        return verdict, verdict.summary()


__all__ = ["SignatureConfigError", "SignatureGate", "configured_policy"]
