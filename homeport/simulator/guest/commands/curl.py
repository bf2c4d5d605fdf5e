"""``curl`` inside a guest: a real HTTP download (httpx, from the guest's own address) of
the URLs homeport's artifact sources name, with curl's options and answers.

Understood: ``-f/--fail``, ``-s``, ``-S``, ``-L/--location`` (at most 50 redirects),
``--proto`` / ``--proto-redir`` (``=https`` or ``=http,https``), ``-m/--max-time``,
``--retry`` (accepted; a failure is answered at once), ``-o/--output``. Exit statuses
and messages are curl 8's: 1 for a protocol ``--proto`` does not allow, 6 for a host
that does not resolve, 7 for a refused connection, 22 for an HTTP error under
``--fail``, 23 when the output cannot be written, 28 on a timeout, 47 for too many
redirects. Like curl, a download that fails midway leaves what was written.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx

from .base import Completed, ExecContext, parse_options

MAX_REDIRECTS = 50
_SHORT = "fsSLo:m:"
_LONG = [
    "fail",
    "silent",
    "show-error",
    "location",
    "output=",
    "max-time=",
    "proto=",
    "proto-redir=",
    "retry=",
]


class CurlError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _protocols(spec: str | None, default: set[str]) -> set[str]:
    """``--proto =https`` / ``=http,https`` (the ``=`` form: exactly these)."""
    if spec is None:
        return default
    return {p.strip() for p in spec.removeprefix("=").split(",") if p.strip()}


async def curl(ctx: ExecContext, args: list[str]) -> Completed:
    parsed = parse_options("curl", args, _SHORT, _LONG)
    if isinstance(parsed, Completed):
        return Completed(2, parsed.stdout, parsed.stderr)
    opts, urls = parsed
    options = dict(opts)
    if len(urls) != 1:
        return Completed.err(2, "curl: (2) homeport-sim: exactly one URL is simulated\n")
    output = options.get("-o") or options.get("--output")
    if output is None:
        return Completed.err(2, "curl: (2) homeport-sim: only downloads to -o FILE are simulated\n")
    allowed = _protocols(options.get("--proto"), {"http", "https"})
    allowed_redirect = _protocols(options.get("--proto-redir"), allowed) & allowed
    try:
        await _download(
            ctx,
            urls[0],
            ctx.host(output),
            allowed=allowed,
            allowed_redirect=allowed_redirect,
            fail={"-f", "--fail"} & options.keys() != set(),
            follow={"-L", "--location"} & options.keys() != set(),
            max_time=float(options.get("-m") or options.get("--max-time") or 0) or None,
        )
    except CurlError as exc:
        return Completed.err(exc.code, f"curl: ({exc.code}) {exc}\n")
    return Completed()


async def _download(
    ctx: ExecContext,
    url: str,
    output: Path,
    *,
    allowed: set[str],
    allowed_redirect: set[str],
    fail: bool,
    follow: bool,
    max_time: float | None,
) -> None:
    transport = httpx.AsyncHTTPTransport(local_address=ctx.guest.address or None)
    timeout = httpx.Timeout(max_time)
    async with httpx.AsyncClient(transport=transport, timeout=timeout) as client:
        protocols = allowed
        for _ in range(MAX_REDIRECTS + 1):
            scheme = urlsplit(url).scheme
            if scheme not in protocols:
                raise CurlError(1, f'Protocol "{scheme}" not supported')
            location = await _get(ctx, client, url, output, fail=fail, follow=follow)
            if location is None:
                return
            url, protocols = urljoin(url, location), allowed_redirect
    raise CurlError(47, f"Maximum ({MAX_REDIRECTS}) redirects followed")


async def _get(
    ctx: ExecContext,
    client: httpx.AsyncClient,
    url: str,
    output: Path,
    *,
    fail: bool,
    follow: bool,
) -> str | None:
    """One request; the redirect's Location when curl would follow it."""
    host = urlsplit(url).hostname or ""
    try:
        async with client.stream("GET", url) as response:
            if follow and response.is_redirect and "location" in response.headers:
                return response.headers["location"]
            if fail and response.status_code >= 400:
                raise CurlError(22, f"The requested URL returned error: {response.status_code}")
            await _write(ctx, response, output)
    except httpx.TimeoutException:
        raise CurlError(28, "Operation timed out") from None
    except httpx.ConnectError as exc:
        if "Name or service not known" in str(exc) or "nodename nor servname" in str(exc):
            raise CurlError(6, f"Could not resolve host: {host}") from None
        port = urlsplit(url).port or (443 if url.startswith("https") else 80)
        raise CurlError(
            7, f"Failed to connect to {host} port {port} after 0 ms: Couldn't connect to server"
        ) from None
    except httpx.HTTPError as exc:
        raise CurlError(56, f"Failure when receiving data from the peer: {exc}") from None
    return None


async def _write(ctx: ExecContext, response: httpx.Response, output: Path) -> None:
    disk = ctx.guest.disk
    try:
        disk.require_space()
        disk.require_dir_writable(ctx.account, output)
        with output.open("wb") as file:
            async for chunk in response.aiter_bytes():
                disk.require_space()
                file.write(chunk)
    except OSError as exc:
        raise CurlError(
            23, f"Failure writing output to destination ({os.strerror(exc.errno or 5)})"
        ) from None
    disk.chown(output, ctx.account.uid, ctx.account.gid)
