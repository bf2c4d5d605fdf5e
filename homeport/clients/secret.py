"""Secret values (API tokens, auth keys, env-file contents) that never show in a repr or log.

Read from files by ``proxmox`` (API token) and ``tailscale`` (API token), returned by
``tailscale.create_auth_key``, and handed by the reconcilers to ``ssh_files.install_file``.
Only the code that puts the value on the wire calls ``reveal()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

MASK: Final = "***"


class Secret:
    """A string that prints as ``Secret('***')``; ``reveal()`` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> tuple[object, ...]:
        # Pickling (e.g. into a store or a queue) would copy the plaintext somewhere unseen.
        raise TypeError("Secret values are not picklable")


def read_secret_file(path: Path) -> Secret:
    """The stripped contents of a secret file; errors name the file, never its contents."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ValueError(f"cannot read secret file {path}: {exc.strerror or exc}") from None
    if not text:
        raise ValueError(f"secret file {path} is empty")
    return Secret(text)


def scrub(text: str, secrets: tuple[Secret, ...]) -> str:
    """``text`` with every secret's value replaced by the mask (for error messages)."""
    for secret in secrets:
        value = secret.reveal()
        if value:
            text = text.replace(value, MASK)
    return text
