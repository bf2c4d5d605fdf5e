"""The simulator's S3 server: SigV4 is checked like S3 checks it (wrong key id, wrong secret,
tampered body, skewed clock all refused), ListObjectsV2 pages with continuation tokens, and
ranged reads return the asked bytes. restic's own use of it is covered by
``tests/reconcilers/backuppolicy/test_s3_offsite.py``."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree as ET

import httpx
import pytest

from homeport.simulator.s3 import S3Server

ACCESS, SECRET = "AKIDSIMTEST", "simulated-secret-key"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def sign(
    method: str,
    url: str,
    body: bytes = b"",
    *,
    access: str = ACCESS,
    secret: str = SECRET,
    when: datetime = NOW,
    headers: dict[str, str] | None = None,
) -> dict[str, str]:
    """Headers of a SigV4-signed request, written from the AWS documentation (not the server)."""
    parts = urlsplit(url)
    stamp, day = when.strftime("%Y%m%dT%H%M%SZ"), when.strftime("%Y%m%d")
    payload = hashlib.sha256(body).hexdigest()
    signed = {"host": parts.netloc, "x-amz-content-sha256": payload, "x-amz-date": stamp}
    signed |= {k.lower(): v for k, v in (headers or {}).items()}
    names = sorted(signed)
    query = "&".join(
        sorted(
            f"{quote(unquote(k), safe='-_.~')}={quote(unquote(v), safe='-_.~')}"
            for k, _, v in (p.partition("=") for p in parts.query.split("&") if p)
        )
    )
    canonical = "\n".join(
        [
            method,
            quote(parts.path or "/", safe="/-_.~"),
            query,
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            payload,
        ]
    )
    scope = f"{day}/us-east-1/s3/aws4_request"
    to_sign = (
        f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    )
    key = f"AWS4{secret}".encode()
    for part in (day, "us-east-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={access}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return {**signed, "authorization": authorization}


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[S3Server]:
    s3 = S3Server(tmp_path, access_key=ACCESS, secret_key=SECRET, clock=NOW.timestamp)
    await s3.start()
    yield s3
    await s3.stop()


async def call(
    server: S3Server, method: str, path: str, body: bytes = b"", **signing: object
) -> httpx.Response:
    url = f"{server.url}{path}"
    headers = sign(method, url, body, **signing)  # type: ignore[arg-type]
    headers.pop("host")
    async with httpx.AsyncClient() as client:
        return await client.request(method, url, content=body, headers=headers)


def code(response: httpx.Response) -> str:
    found = re.search(r"<Code>([^<]+)</Code>", response.text)
    return found.group(1) if found else ""


async def test_wrong_credentials_are_refused_as_s3_refuses_them(server: S3Server) -> None:
    assert (await call(server, "PUT", "/bkt")).status_code == 200
    wrong_id = await call(server, "GET", "/bkt?list-type=2", access="AKIDOTHER")
    assert (wrong_id.status_code, code(wrong_id)) == (403, "InvalidAccessKeyId")
    wrong_secret = await call(server, "GET", "/bkt?list-type=2", secret="guessed")
    assert (wrong_secret.status_code, code(wrong_secret)) == (403, "SignatureDoesNotMatch")
    skewed = await call(
        server, "GET", "/bkt?list-type=2", when=datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
    )
    assert (skewed.status_code, code(skewed)) == (403, "RequestTimeTooSkewed")
    async with httpx.AsyncClient() as client:
        anonymous = await client.get(f"{server.url}/bkt?list-type=2")
    assert (anonymous.status_code, code(anonymous)) == (403, "AccessDenied")
    # A body other than the one signed is refused and not stored.
    url = f"{server.url}/bkt/key"
    headers = sign("PUT", url, b"signed body")
    headers.pop("host")
    async with httpx.AsyncClient() as client:
        tampered = await client.put(url, content=b"another body", headers=headers)
    assert (tampered.status_code, code(tampered)) == (400, "XAmzContentSHA256Mismatch")
    assert server.keys("bkt") == []


async def test_objects_ranges_and_paged_listing(server: S3Server) -> None:
    await call(server, "PUT", "/bkt")
    for i in range(5):
        assert (
            await call(server, "PUT", f"/bkt/repo/data/{i:02d}", f"blob {i}".encode())
        ).status_code == 200
    await call(server, "PUT", "/bkt/other/x", b"x")
    got = await call(server, "GET", "/bkt/repo/data/03", headers={"range": "bytes=2-3"})
    assert (got.status_code, got.content) == (206, b"ob")
    head = await call(server, "HEAD", "/bkt/repo/data/04")
    assert head.headers["content-length"] == "6"

    listed, token = [], ""
    pages = 0
    while True:
        query = "/bkt?list-type=2&max-keys=2&prefix=repo%2F" + (
            f"&continuation-token={quote(token, safe='')}" if token else ""
        )
        response = await call(server, "GET", query)
        assert response.status_code == 200, response.text
        page = ET.fromstring(response.content)
        ns = {"s3": "http://s3.amazonaws.com/doc/2006-03-01/"}
        listed += [k.text for k in page.findall("s3:Contents/s3:Key", ns)]
        pages += 1
        if page.findtext("s3:IsTruncated", namespaces=ns) != "true":
            break
        token = page.findtext("s3:NextContinuationToken", namespaces=ns) or ""
    assert listed == [f"repo/data/{i:02d}" for i in range(5)] and pages == 3

    assert (await call(server, "DELETE", "/bkt/repo/data/00")).status_code == 204
    missing = await call(server, "GET", "/bkt/repo/data/00")
    assert (missing.status_code, code(missing)) == (404, "NoSuchKey")
    absent = await call(server, "GET", "/nobucket?list-type=2")
    assert (absent.status_code, code(absent)) == (404, "NoSuchBucket")
