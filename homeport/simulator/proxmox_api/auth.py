"""Who is calling: API tokens (`PVEAPIToken=user@realm!id=secret`) and tickets.

Tokens are checked as `PVE::AccessControl::verify_token` splits them; tickets are HMAC-signed
`PVE:<user>:<HEXTIME>::<sig>` strings valid for two simulated hours, carried in the
`PVEAuthCookie` cookie (or `Authorization: PVEAuthCookie=`), and every non-GET with a ticket
needs a matching `CSRFPreventionToken` header. Failures are `AuthFailed`; `server` answers
them with PVE's bare 401. `POST /access/ticket` logins go through `login`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from homeport.simulator.clock import SimClock
from homeport.simulator.errors import PveError
from homeport.simulator.settings import ApiToken

TICKET_LIFETIME = 7200
NO_TICKET = "No ticket"
_TOKEN_RE = re.compile(r"(?:^|\s)PVEAPIToken(?:=| )([^;]*)")
_COOKIE_RE = re.compile(r"(?:^|\s)PVEAuthCookie=([^;]*)")


class AuthFailed(Exception):
    """The request carries no valid credentials."""


@dataclass(frozen=True)
class Identity:
    userid: str
    tokenid: str | None = None

    @property
    def task_user(self) -> str:
        """The user field of UPIDs this caller starts."""
        return f"{self.userid}!{self.tokenid}" if self.tokenid else self.userid


class Authenticator:
    def __init__(
        self, tokens: tuple[ApiToken, ...], users: Mapping[str, str], secret: bytes, clock: SimClock
    ) -> None:
        self._tokens = {t.full_id: t for t in tokens}
        self._users = dict(users)
        self._secret = secret
        self._clock = clock

    def authenticate(
        self, method: str, headers: Mapping[str, str], cookies: Mapping[str, str]
    ) -> Identity:
        ticket = cookies.get("PVEAuthCookie")
        authorization = headers.get("Authorization", "")
        if ticket is None and (match := _COOKIE_RE.search(authorization)):
            ticket = urllib.parse.unquote(match.group(1))
        if ticket is not None:
            user = self._verify_ticket(ticket)
            if method != "GET":
                self._verify_csrf(headers.get("CSRFPreventionToken", ""), user)
            return Identity(user)
        match = _TOKEN_RE.search(authorization)
        if match is None:
            raise AuthFailed(NO_TICKET)
        return self._verify_token(urllib.parse.unquote(match.group(1)))

    def _verify_token(self, value: str) -> Identity:
        full_id, sep, secret = value.rpartition("=")
        token = self._tokens.get(full_id)
        if not sep or token is None or not hmac.compare_digest(token.secret, secret):
            raise AuthFailed("invalid token value!")
        return Identity(token.userid, token.tokenid)

    def login(self, params: dict[str, Any]) -> dict[str, Any]:
        username = str(params.get("username", ""))
        if params.get("realm") and "@" not in username:
            username = f"{username}@{params['realm']}"
        password = str(params.get("password", ""))
        if password.startswith("PVE:"):
            try:
                if self._verify_ticket(password) != username:
                    raise AuthFailed("ticket user mismatch")
            except AuthFailed as err:
                raise PveError("authentication failure", status=401) from err
        elif username not in self._users or not hmac.compare_digest(
            self._users[username], password
        ):
            raise PveError("authentication failure", status=401)
        return self._ticket_response(username)

    def _ticket_response(self, user: str) -> dict[str, Any]:
        stamp = f"{int(self._clock.now()):08X}"
        plain = f"PVE:{user}:{stamp}"
        return {
            "username": user,
            "ticket": f"{plain}::{self._sign(plain)}",
            "CSRFPreventionToken": f"{stamp}:{self._sign(f'{stamp}:{user}')}",
            "cap": _capabilities(),
        }

    def _verify_ticket(self, ticket: str) -> str:
        plain, sep, signature = ticket.partition("::")
        parts = plain.split(":")
        if not sep or len(parts) != 3 or parts[0] != "PVE":
            raise AuthFailed("invalid ticket")
        if not hmac.compare_digest(self._sign(plain), signature):
            raise AuthFailed("invalid ticket signature")
        self._check_age(parts[2])
        return parts[1]

    def _verify_csrf(self, token: str, user: str) -> None:
        stamp, _, signature = token.partition(":")
        if not hmac.compare_digest(self._sign(f"{stamp}:{user}"), signature):
            raise AuthFailed("Permission denied - invalid csrf token")
        self._check_age(stamp)

    def _check_age(self, stamp: str) -> None:
        try:
            issued = int(stamp, 16)
        except ValueError as err:
            raise AuthFailed("invalid ticket time") from err
        age = self._clock.now() - issued
        if not -300 <= age <= TICKET_LIFETIME:
            raise AuthFailed("ticket expired")

    def _sign(self, text: str) -> str:
        digest = hmac.new(self._secret, text.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode().rstrip("=")


def _capabilities() -> dict[str, dict[str, int]]:
    return {
        "vms": {"VM.Allocate": 1, "VM.Config.Disk": 1, "VM.PowerMgmt": 1, "VM.Audit": 1},
        "storage": {"Datastore.Allocate": 1, "Datastore.Audit": 1},
        "nodes": {"Sys.Audit": 1, "Sys.Modify": 1},
        "access": {"User.Modify": 1},
        "dc": {"Sys.Audit": 1},
        "sdn": {"SDN.Audit": 1},
        "mapping": {"Mapping.Audit": 1},
    }
