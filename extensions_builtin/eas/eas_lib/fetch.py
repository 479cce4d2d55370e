"""image_link fetching: http(s) only, pinned to checked addresses, bounded in time, size and redirects.

Each hop (the first URL and at most `MAX_REDIRECTS` redirects) is checked on its own: scheme, host, and every
address the host resolves to. While `api_forbid_local_requests` is on (the A1111 option; only config.json or a
flag can change it), any address that is not global (private, loopback, link-local, reserved, ...) is refused.
The connection then goes to the checked address itself (Host header and TLS SNI keep the name), so a DNS answer
that changes between the check and the connect cannot smuggle a private address in.
"""
from __future__ import annotations

import asyncio
import io
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx
from PIL import Image, UnidentifiedImageError

from eas_lib.errors import EasError, bad_request, forbidden

MAX_REDIRECTS = 3
MAX_URL_CHARS = 4096
REDIRECT_CODES = (301, 302, 303, 307, 308)
Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass
class LinkPolicy:
    """How links are fetched. `resolver` and `transport` are injectable for tests (defaults: DNS, real network)."""

    timeout: float = 15.0
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 4096 * 4096
    enabled: bool = True  # option api_enable_requests
    forbid_local: bool = True  # option api_forbid_local_requests
    user_agent: str = ""
    rewrites: tuple[tuple[str, str], ...] = ()
    resolver: Resolver | None = None
    # reads oss:// / s3:// references through the configured store: (link, field, max_bytes) -> bytes
    read_stored: Callable[[str, str, int], bytes] | None = field(default=None, repr=False)
    is_stored: Callable[[object], bool] | None = field(default=None, repr=False)
    transport: httpx.AsyncBaseTransport | None = field(default=None, repr=False)


async def system_resolver(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (getaddrinfo, TCP)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def rewrite(url: str, rewrites: tuple[tuple[str, str], ...]) -> str:
    """Apply the first --eas-link-map rule whose prefix matches."""
    for prefix, replacement in rewrites:
        if url.startswith(prefix):
            return replacement + url[len(prefix):]
    return url


async def _checked_address(url: httpx.URL, policy: LinkPolicy, field_name: str) -> str:
    if url.scheme not in ("http", "https"):
        raise bad_request(f"{field_name}: only http and https links are allowed, got {url.scheme or 'no'} scheme",
                          field=field_name)
    host = url.host
    if not host:
        raise bad_request(f"{field_name}: the link has no host", field=field_name)
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            addresses = await (policy.resolver or system_resolver)(host, port)
        except OSError as exc:
            raise EasError(502, f"{field_name}: cannot resolve host {host!r}: {exc}", field=field_name) from exc
    if not addresses:
        raise EasError(502, f"{field_name}: host {host!r} has no address", field=field_name)
    if policy.forbid_local:
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            mapped = getattr(ip, "ipv4_mapped", None)
            if not ip.is_global or (mapped is not None and not mapped.is_global):
                raise forbidden(f"{field_name}: {host!r} resolves to the non-public address {address}; local "
                                "requests are forbidden (option api_forbid_local_requests)", field=field_name)
    return addresses[0]


def _decode_check(data: bytes, policy: LinkPolicy, field_name: str) -> None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > policy.max_pixels:
                raise bad_request(f"{field_name}: image of {width}x{height} pixels is larger than the allowed "
                                  f"{policy.max_pixels} pixels", field=field_name)
            image.load()
    except UnidentifiedImageError as exc:
        raise bad_request(f"{field_name}: the link did not return a decodable image (unknown format)",
                          field=field_name) from exc
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise bad_request(f"{field_name}: the link did not return a decodable image ({exc})", field=field_name) from exc


async def _get_once(client: httpx.AsyncClient, url: httpx.URL, address: str, policy: LinkPolicy,
                    field_name: str) -> tuple[int, str | None, bytes]:
    """One pinned GET: (status, Location header, body up to the cap)."""
    headers = {"Host": url.netloc.decode("ascii"), "Accept": "image/*"}
    if policy.user_agent:
        headers["User-Agent"] = policy.user_agent
    pinned = url.copy_with(host=address)
    extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
    async with client.stream("GET", pinned, headers=headers, extensions=extensions) as response:
        if response.status_code in REDIRECT_CODES:
            return response.status_code, response.headers.get("location"), b""
        if response.status_code != 200:
            raise EasError(502, f"{field_name}: the link answered HTTP {response.status_code}", field=field_name)
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > policy.max_bytes:
            raise bad_request(f"{field_name}: the image is {declared} bytes, more than the allowed "
                              f"{policy.max_bytes}", field=field_name)
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > policy.max_bytes:
                raise bad_request(f"{field_name}: the image is more than the allowed {policy.max_bytes} bytes",
                                  field=field_name)
            chunks.append(chunk)
        return response.status_code, None, b"".join(chunks)


async def _fetch(link: str, policy: LinkPolicy, field_name: str) -> bytes:
    url = httpx.URL(rewrite(link, policy.rewrites))
    async with httpx.AsyncClient(follow_redirects=False, timeout=policy.timeout, transport=policy.transport,
                                 trust_env=False) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            address = await _checked_address(url, policy, field_name)
            status, location, body = await _get_once(client, url, address, policy, field_name)
            if status not in REDIRECT_CODES:
                return body
            if not location:
                raise EasError(502, f"{field_name}: redirect without a Location header", field=field_name)
            url = httpx.URL(urljoin(str(url), location))
    raise bad_request(f"{field_name}: more than {MAX_REDIRECTS} redirects", field=field_name)


async def fetch_image(link: object, policy: LinkPolicy, *, field_name: str = "image_link") -> bytes:
    """The image bytes behind `link`, checked to decode as an image. Raises EasError (403/422/502/504)."""
    if not isinstance(link, str) or not link.strip():
        raise bad_request(f"{field_name}: expected a URL string, got {link!r}", field=field_name)
    if len(link) > MAX_URL_CHARS:
        raise bad_request(f"{field_name}: URL longer than {MAX_URL_CHARS} characters", field=field_name)
    if policy.read_stored is not None and policy.is_stored is not None and policy.is_stored(link):
        data = await asyncio.to_thread(policy.read_stored, link, field_name, policy.max_bytes)
        await asyncio.to_thread(_decode_check, data, policy, field_name)
        return data
    if not policy.enabled:
        raise forbidden(f"{field_name}: URL inputs are disabled (option api_enable_requests)", field=field_name)
    try:
        async with asyncio.timeout(policy.timeout):
            data = await _fetch(link.strip(), policy, field_name)
    except TimeoutError as exc:
        raise EasError(504, f"{field_name}: fetching the link took longer than {policy.timeout:g}s",
                       field=field_name) from exc
    except httpx.InvalidURL as exc:
        raise bad_request(f"{field_name}: invalid URL: {exc}", field=field_name) from exc
    except httpx.TimeoutException as exc:
        raise EasError(504, f"{field_name}: fetching the link timed out", field=field_name) from exc
    except httpx.HTTPError as exc:
        raise EasError(502, f"{field_name}: cannot fetch the link: {exc}", field=field_name) from exc
    await asyncio.to_thread(_decode_check, data, policy, field_name)
    return data
