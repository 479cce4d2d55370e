"""image_link fetching: live (local requests allowed by config.json) and the fetcher's redirect re-checks."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.eas.conftest import TOKEN
from tests.eas.support import ImageServer

SMALL = {"prompt": "x", "steps": 2, "width": 64, "height": 64, "seed": 1, "init_images": []}


def _img2img(server, link: str):
    with server.client(headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        return client.post("/sdapi/v1/img2img", json={**SMALL, "alwayson_scripts": {"image_link": link}})


@pytest.mark.parametrize("path", ["/img.png", "/redirect/3"])
def test_links_are_fetched_when_local_requests_are_allowed(links_server, path):
    response = _img2img(links_server, links_server.images_url + path)
    assert response.status_code == 200, response.text
    assert response.json()["parameters"]["status"] == 0 and len(response.json()["images"]) == 1


@pytest.mark.parametrize("path,status,words", [
    ("/redirect/4", 422, "more than 3 redirects"), ("/big", 422, "more than the allowed"),
    ("/text", 422, "did not return a decodable image"), ("/missing.png", 502, "HTTP 404")])
def test_bad_links_are_refused(links_server, path, status, words):
    response = _img2img(links_server, links_server.images_url + path)
    assert response.status_code == status
    params = response.json()["parameters"]
    assert params["status"] == status and words in params["error_msg"]


@pytest.mark.parametrize("link", ["file:///etc/passwd", "ftp://example.com/a.png", "not a url", ""])
def test_only_http_links(links_server, link):
    assert _img2img(links_server, link).status_code == 422


def test_image_link_is_for_img2img_only(links_server):
    with links_server.client(headers={"Authorization": TOKEN}) as client:
        response = client.post("/sdapi/v1/txt2img", json={"prompt": "x", "alwayson_scripts": {"image_link": "http://a/b"}})
    assert response.status_code == 422


class _ToLocal(httpx.AsyncBaseTransport):
    """Sends requests for the pretend-public address 93.184.216.34 to a local server (test network only)."""

    def __init__(self, port: int):
        self.port = port
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host == "93.184.216.34":
            request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)


def test_a_redirect_to_loopback_is_refused():
    from eas_lib.errors import EasError
    from eas_lib.fetch import LinkPolicy, fetch_image

    async def resolver(host: str, _port: int) -> list[str]:
        return ["93.184.216.34"] if host == "images.example" else ["127.0.0.1"]

    with ImageServer() as images:
        port = int(images.url.rsplit(":", 1)[1])
        policy = LinkPolicy(resolver=resolver, transport=_ToLocal(port))
        assert asyncio.run(fetch_image("http://images.example/img.png", policy)).startswith(b"\x89PNG")
        with pytest.raises(EasError) as refused:  # the public host redirects to the loopback one
            asyncio.run(fetch_image("http://images.example/redirect-to-local", LinkPolicy(
                resolver=resolver, transport=_Redirect(f"http://localhost:{port}/img.png"))))
        assert refused.value.status == 403 and "non-public address 127.0.0.1" in refused.value.message


class _Redirect(httpx.AsyncBaseTransport):
    """Answers every request with a redirect to `target`."""

    def __init__(self, target: str):
        self.target = target

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"Location": self.target})
