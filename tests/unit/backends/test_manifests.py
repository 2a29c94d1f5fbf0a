"""Manifests over plain HTTP from a real HTTP server on loopback, and every case that must
leave the work to skopeo (None)."""

from __future__ import annotations

import http.server
from collections.abc import Iterator

import pytest

from crio_py.backends.manifests import ACCEPT, ManifestFetcher
from crio_py.config.model import Endpoint
from tests.fixtures.http_server import serving

BODY = b'{"schemaVersion": 2}'


class _Registry(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Accept", "")))
        if self.path == "/v2/mirror/app/manifests/1":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
            return
        self.send_response(401 if "private" in self.path else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    with serving(_Registry) as address:
        yield address


async def test_the_manifest_with_every_media_type_asked_for(registry: str) -> None:
    _Registry.seen.clear()
    endpoint = Endpoint(host=f"{registry}/mirror", scheme="http")  # a mirror with a path prefix
    assert await ManifestFetcher().fetch(endpoint, "app", "1") == BODY
    assert _Registry.seen == [("/v2/mirror/app/manifests/1", ACCEPT)]


@pytest.mark.parametrize("name", ["private/app", "missing"])
async def test_an_answer_but_200_is_for_skopeo(registry: str, name: str) -> None:
    endpoint = Endpoint(host=registry, scheme="http")
    assert await ManifestFetcher().fetch(endpoint, name, "1") is None


async def test_no_registry_or_tls_against_plain_http_is_for_skopeo(registry: str) -> None:
    fetcher = ManifestFetcher(timeout_s=2)
    assert await fetcher.fetch(Endpoint(host="127.0.0.1:1", scheme="http"), "app", "1") is None
    assert await fetcher.fetch(Endpoint(host=f"{registry}/mirror"), "app", "1") is None


async def test_a_proxy_is_for_skopeo(registry: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:1")
    endpoint = Endpoint(host=f"{registry}/mirror", scheme="http")
    assert await ManifestFetcher().fetch(endpoint, "app", "1") is None
