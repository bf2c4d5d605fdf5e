"""An S3-compatible object store on loopback: what restic (minio-go) needs of one.

The offsite tests point real restic at it. Every request must carry an AWS Signature
Version 4 made with the configured key pair, checked the way S3 checks it (canonical
request, scope, payload hash, clock skew), so wrong credentials fail as on real S3:
``InvalidAccessKeyId`` or ``SignatureDoesNotMatch``, HTTP 403.

Served: bucket HEAD / PUT / GET ``?location``; ListObjectsV2 (``list-type=2``: prefix,
delimiter, max-keys, continuation-token, start-after); object PUT / GET (with ``Range``) /
HEAD / DELETE; multipart uploads (initiate, part, complete, abort) for objects larger than
minio-go's part size. Objects live as files under ``root/<bucket>/`` (their key
percent-encoded into one file name) so a test can damage one the way a disk would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from pathlib import Path
from urllib.parse import quote, unquote
from xml.etree import ElementTree as ET

from aiohttp import web

from homeport.simulator.listeners import close_runner, serve_runner

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED = "UNSIGNED-PAYLOAD"
STREAMING = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
"""minio-go signs every chunk of a PUT body this way over plain HTTP (aws-chunked)."""
MAX_SKEW = 15 * 60.0
"""S3 refuses a request signed more than 15 minutes away from its clock."""
_CREDENTIAL = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/s3/aws4_request,"
    r"\s*SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class S3Error(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class S3Requests:
    """What the server was asked, for tests: (method, path, query keys) per request."""

    seen: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    """The error codes of refused requests, in order."""


def _uri_encode(text: str, *, slash: bool) -> str:
    return quote(text, safe="/-_.~" if slash else "-_.~")


def _canonical_query(raw: str) -> str:
    pairs = []
    for part in raw.split("&") if raw else []:
        name, _, value = part.partition("=")
        pairs.append(
            (_uri_encode(unquote(name), slash=False), _uri_encode(unquote(value), slash=False))
        )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signing_key(secret: str, date: str, region: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


class S3Server:
    """One account (``access_key``/``secret_key``) and its buckets under ``root``."""

    def __init__(
        self,
        root: Path,
        *,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = root
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        self.clock = clock
        self.requests = S3Requests()
        self.url = ""
        self._uploads: dict[str, tuple[str, str, dict[int, bytes]]] = {}
        self.damaged_reads = 0
        """Fault: this many next reads of a ``data/`` object come back with a byte flipped
        (a bucket with bit rot, or a broken proxy)."""
        self._runner: web.AppRunner | None = None
        self._sock: socket.socket | None = None

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve over plain HTTP on loopback; ``self.url`` is the endpoint."""
        self.root.mkdir(parents=True, exist_ok=True)
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        self._sock = await serve_runner(self._runner, host, port)
        bound = self._sock.getsockname()
        self.url = f"http://{bound[0]}:{bound[1]}"

    async def stop(self) -> None:
        if self._runner is not None:
            await close_runner(self._runner, self._sock)
            self._runner, self._sock = None, None

    # -- the world, for tests -----------------------------------------------------------

    def bucket_dir(self, bucket: str) -> Path:
        return self.root / bucket

    def object_path(self, bucket: str, key: str) -> Path:
        return self.bucket_dir(bucket) / quote(key, safe="")

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        directory = self.bucket_dir(bucket)
        if not directory.is_dir():
            return []
        names = (unquote(p.name) for p in directory.iterdir() if p.is_file())
        return sorted(k for k in names if k.startswith(prefix))

    # -- requests -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw_path = request.rel_url.raw_path
        self.requests.seen.append(
            (request.method, unquote(raw_path), tuple(sorted(request.rel_url.query)))
        )
        try:
            body = await request.read()
            body = self._authenticate(request, body)
            return await self._route(request, unquote(raw_path), body)
        except S3Error as exc:
            self.requests.refused.append(exc.code)
            return _error(request, exc)

    def _authenticate(self, request: web.Request, body: bytes) -> bytes:
        """The request's body once its signature (and each chunk's) checks out."""
        header = request.headers.get("Authorization", "")
        found = _CREDENTIAL.match(header)
        if found is None:
            raise S3Error(403, "AccessDenied", "Signature Version 4 authorization is required")
        if not hmac.compare_digest(found["key"], self.access_key):
            raise S3Error(
                403,
                "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.",
            )
        amz_date = request.headers.get("X-Amz-Date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            raise S3Error(403, "AccessDenied", "X-Amz-Date is missing or malformed") from None
        if abs(signed_at.timestamp() - self.clock()) > MAX_SKEW:
            raise S3Error(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        payload = request.headers.get("X-Amz-Content-Sha256", "")
        if payload not in (UNSIGNED, STREAMING) and payload != hashlib.sha256(body).hexdigest():
            raise S3Error(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        names = found["headers"].split(";")
        if "host" not in names or "x-amz-date" not in names:
            raise S3Error(403, "AccessDenied", "host and x-amz-date must be signed")
        headers = "".join(
            f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in names
        )
        canonical = "\n".join(
            [
                request.method,
                _uri_encode(unquote(request.rel_url.raw_path), slash=True),
                _canonical_query(request.rel_url.raw_query_string),
                headers,
                found["headers"],
                payload,
            ]
        )
        scope = f"{found['date']}/{found['region']}/s3/aws4_request"
        to_sign = "\n".join(
            [ALGORITHM, amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()]
        )
        key = signing_key(self.secret_key, found["date"], found["region"])
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, found["signature"]):
            raise _mismatch()
        if payload != STREAMING:
            return body
        decoded = _unchunk(body, key, f"{amz_date}\n{scope}", found["signature"])
        if str(len(decoded)) != request.headers.get("X-Amz-Decoded-Content-Length"):
            raise S3Error(400, "IncompleteBody", "The decoded length does not match.")
        return decoded

    async def _route(self, request: web.Request, path: str, body: bytes) -> web.StreamResponse:
        bucket, _, key = path.lstrip("/").partition("/")
        if not bucket:
            raise S3Error(405, "MethodNotAllowed", "listing buckets is not served")
        query = request.rel_url.query
        if not key:
            if request.method == "PUT":
                return self._create_bucket(bucket)
            self._bucket_or_raise(bucket)
            if request.method == "HEAD":
                return web.Response(status=200)
            if request.method == "GET" and "location" in query:
                return _xml(_element("LocationConstraint", self.region))
            if request.method == "GET":
                return self._list(bucket, query)
            raise S3Error(405, "MethodNotAllowed", f"{request.method} on a bucket is not served")
        self._bucket_or_raise(bucket)
        if "uploadId" in query or "uploads" in query:
            return self._multipart(request, bucket, key, body)
        if request.method == "PUT":
            return self._put(bucket, key, body, request.headers.get("Content-MD5"))
        if request.method in ("GET", "HEAD"):
            return self._get(request, bucket, key)
        if request.method == "DELETE":
            self.object_path(bucket, key).unlink(missing_ok=True)
            return web.Response(status=204)
        raise S3Error(405, "MethodNotAllowed", f"{request.method} on an object is not served")

    def _bucket_or_raise(self, bucket: str) -> None:
        if not self.bucket_dir(bucket).is_dir():
            raise S3Error(404, "NoSuchBucket", "The specified bucket does not exist")

    def _create_bucket(self, bucket: str) -> web.Response:
        if self.bucket_dir(bucket).is_dir():
            raise S3Error(
                409,
                "BucketAlreadyOwnedByYou",
                "Your previous request to create the named bucket succeeded and you already own it.",
            )
        self.bucket_dir(bucket).mkdir(parents=True)
        return web.Response(status=200, headers={"Location": f"/{bucket}"})

    def _put(self, bucket: str, key: str, body: bytes, content_md5: str | None) -> web.Response:
        digest = hashlib.md5(body, usedforsecurity=False)
        if content_md5 is not None and base64.b64encode(digest.digest()).decode() != content_md5:
            raise S3Error(400, "BadDigest", "The Content-MD5 you specified did not match.")
        self._write(bucket, key, body)
        return web.Response(status=200, headers={"ETag": f'"{digest.hexdigest()}"'})

    def _write(self, bucket: str, key: str, body: bytes) -> None:
        target = self.object_path(bucket, key)
        partial = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
        partial.write_bytes(body)
        partial.replace(target)  # readers see the old object or the new one, never half

    def _get(self, request: web.Request, bucket: str, key: str) -> web.Response:
        path = self.object_path(bucket, key)
        try:
            data = path.read_bytes()
            modified = path.stat().st_mtime
        except FileNotFoundError:
            raise S3Error(404, "NoSuchKey", "The specified key does not exist.") from None
        headers = {
            "ETag": f'"{hashlib.md5(data, usedforsecurity=False).hexdigest()}"',
            "Last-Modified": formatdate(modified, usegmt=True),
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        if self.damaged_reads > 0 and "/data/" in f"/{key}" and request.method == "GET" and data:
            self.damaged_reads -= 1
            flipped = bytearray(data)
            flipped[len(flipped) // 2] ^= 0xFF
            data = bytes(flipped)
        status, body = 200, data
        wanted = request.headers.get("Range")
        if wanted:
            start, end = _byte_range(wanted, len(data))
            body = data[start : end + 1]
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        if request.method == "HEAD":
            headers["Content-Length"] = str(len(body))
            return web.Response(status=status, headers=headers)
        return web.Response(status=status, body=body, headers=headers)

    def _list(self, bucket: str, query: object) -> web.Response:
        params = dict(query)  # type: ignore[call-overload]
        prefix = params.get("prefix", "")
        delimiter = params.get("delimiter", "")
        limit = min(int(params.get("max-keys", "1000") or 1000), 1000)
        after = params.get("continuation-token") or params.get("start-after", "")
        contents: list[str] = []
        prefixes: list[str] = []
        truncated = False
        for key in self.keys(bucket, prefix):
            if key <= after:
                continue
            if len(contents) + len(prefixes) >= limit:
                truncated = True
                break
            rest = key[len(prefix) :]
            if delimiter and delimiter in rest:
                common = prefix + rest.split(delimiter, 1)[0] + delimiter
                if common not in prefixes:
                    prefixes.append(common)
                continue
            contents.append(key)
        result = ET.Element("ListBucketResult", xmlns=NS)
        for name, value in (
            ("Name", bucket),
            ("Prefix", prefix),
            ("KeyCount", str(len(contents) + len(prefixes))),
            ("MaxKeys", str(limit)),
            ("Delimiter", delimiter),
            ("IsTruncated", "true" if truncated else "false"),
        ):
            result.append(_element(name, value))
        if params.get("continuation-token"):
            result.append(_element("ContinuationToken", params["continuation-token"]))
        if truncated:
            last = contents[-1] if contents else prefixes[-1]
            result.append(_element("NextContinuationToken", last))
        for key in contents:
            path = self.object_path(bucket, key)
            stat = path.stat()
            item = ET.SubElement(result, "Contents")
            item.append(_element("Key", key))
            item.append(
                _element(
                    "LastModified",
                    datetime.fromtimestamp(stat.st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                )
            )
            item.append(_element("Size", str(stat.st_size)))
            item.append(_element("StorageClass", "STANDARD"))
        for common in prefixes:
            ET.SubElement(result, "CommonPrefixes").append(_element("Prefix", common))
        return _xml(result)

    def _multipart(self, request: web.Request, bucket: str, key: str, body: bytes) -> web.Response:
        query = request.rel_url.query
        if request.method == "POST" and "uploads" in query:
            upload = secrets.token_hex(16)
            self._uploads[upload] = (bucket, key, {})
            result = ET.Element("InitiateMultipartUploadResult", xmlns=NS)
            for name, value in (("Bucket", bucket), ("Key", key), ("UploadId", upload)):
                result.append(_element(name, value))
            return _xml(result)
        upload = query.get("uploadId", "")
        if upload not in self._uploads or self._uploads[upload][:2] != (bucket, key):
            raise S3Error(404, "NoSuchUpload", "The specified multipart upload does not exist.")
        parts = self._uploads[upload][2]
        if request.method == "PUT":
            parts[int(query.get("partNumber", "0"))] = body
            etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
            return web.Response(status=200, headers={"ETag": f'"{etag}"'})
        if request.method == "DELETE":
            del self._uploads[upload]
            return web.Response(status=204)
        if request.method == "POST":
            listed = ET.fromstring(body)
            numbers = [int(e.text or "0") for e in listed.iter() if e.tag.endswith("PartNumber")]
            if not numbers or any(n not in parts for n in numbers):
                raise S3Error(
                    400, "InvalidPart", "One or more of the specified parts could not be found."
                )
            self._write(bucket, key, b"".join(parts[n] for n in numbers))
            del self._uploads[upload]
            result = ET.Element("CompleteMultipartUploadResult", xmlns=NS)
            for name, value in (("Bucket", bucket), ("Key", key), ("ETag", f'"{upload}"')):
                result.append(_element(name, value))
            return _xml(result)
        raise S3Error(405, "MethodNotAllowed", f"{request.method} on an upload is not served")


def _mismatch() -> S3Error:
    return S3Error(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. "
        "Check your key and signing method.",
    )


def _unchunk(body: bytes, key: bytes, date_scope: str, seed: str) -> bytes:
    """An aws-chunked body (``<hex size>;chunk-signature=<sig>\\r\\n<data>\\r\\n``...,
    ending with a 0-size chunk), each chunk's signature chained from the previous one."""
    empty = hashlib.sha256(b"").hexdigest()
    previous, offset, out = seed, 0, bytearray()
    while True:
        end = body.find(b"\r\n", offset)
        header = body[offset:end].decode("ascii", errors="replace") if end >= 0 else ""
        size_text, _, signature = header.partition(";chunk-signature=")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise S3Error(400, "IncompleteBody", "malformed aws-chunked body") from None
        data = body[end + 2 : end + 2 + size]
        if len(data) != size:
            raise S3Error(400, "IncompleteBody", "truncated aws-chunked body")
        to_sign = "\n".join(
            [f"{ALGORITHM}-PAYLOAD", date_scope, previous, empty, hashlib.sha256(data).hexdigest()]
        )
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise _mismatch()
        out += data
        previous, offset = signature, end + 2 + size + 2
        if size == 0:
            return bytes(out)


def _byte_range(header: str, size: int) -> tuple[int, int]:
    found = _RANGE.match(header.strip())
    if found is None or (not found[1] and not found[2]):
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    if not found[1]:  # the last N bytes
        start, end = max(0, size - int(found[2])), size - 1
    else:
        start = int(found[1])
        end = min(int(found[2]), size - 1) if found[2] else size - 1
    if start >= size or start > end:
        raise S3Error(416, "InvalidRange", "The requested range is not satisfiable")
    return start, end


def _element(name: str, text: str) -> ET.Element:
    element = ET.Element(name)
    element.text = text
    return element


def _xml(element: ET.Element, status: int = 200) -> web.Response:
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element)
    return web.Response(status=status, body=body, content_type="application/xml")


def _error(request: web.Request, exc: S3Error) -> web.Response:
    if request.method == "HEAD":  # S3 answers HEAD errors without a body
        return web.Response(status=exc.status, headers={"x-amz-error-code": exc.code})
    error = ET.Element("Error")
    for name, value in (
        ("Code", exc.code),
        ("Message", exc.message),
        ("Resource", request.rel_url.path),
        ("RequestId", secrets.token_hex(8)),
    ):
        error.append(_element(name, value))
    return _xml(error, exc.status)
