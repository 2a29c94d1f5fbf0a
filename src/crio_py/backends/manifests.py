"""An image manifest straight from a registry (distribution spec: GET
/v2/<name>/manifests/<reference>), the bytes `skopeo inspect --raw` prints, without starting
skopeo: that start costs about 25 ms of every pull.

Only the plain case is taken here: no credentials, no proxy in the environment, and an answer
200. Anything else (a 401 asking for a token, another status, an error, a timeout) answers
None, and skopeo fetches the manifest as before, so authentication and error reports stay
skopeo's. The caller verifies what it gets against the digest, as it does skopeo's output.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import os
import ssl

from crio_py.config.model import Endpoint

logger = logging.getLogger(__name__)

ACCEPT = ", ".join(
    (
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    )
)
MAX_MANIFEST = 4 * 1024 * 1024  # containers/image's limit for a manifest
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")


class ManifestFetcher:
    """Fetches manifests over HTTP(S), each endpoint's TLS context made once."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.timeout_s = timeout_s
        self._contexts: dict[Endpoint, ssl.SSLContext] = {}

    async def fetch(self, endpoint: Endpoint, name: str, reference: str) -> bytes | None:
        """The manifest of `name` (the repository path) at `reference` (a tag or a digest),
        or None when skopeo should fetch it."""
        if any(os.environ.get(variable) for variable in _PROXY_VARIABLES):
            return None
        return await asyncio.to_thread(self._get, endpoint, name, reference)

    def _get(self, endpoint: Endpoint, name: str, reference: str) -> bytes | None:
        netloc, _, prefix = endpoint.host.partition("/")
        path = "/".join(part for part in ("/v2", prefix, name, "manifests", reference) if part)
        connection: http.client.HTTPConnection
        try:
            if endpoint.plain_http:
                connection = http.client.HTTPConnection(netloc, timeout=self.timeout_s)
            else:
                context = self._context(endpoint)
                connection = http.client.HTTPSConnection(
                    netloc, timeout=self.timeout_s, context=context
                )
            try:
                connection.request("GET", path, headers={"Accept": ACCEPT})
                reply = connection.getresponse()
                body = reply.read(MAX_MANIFEST + 1)
            finally:
                connection.close()
        except (OSError, http.client.HTTPException, ValueError) as exc:
            logger.debug("Manifest of %s from %s over HTTP: %s", name, endpoint.host, exc)
            return None
        if reply.status != 200 or len(body) > MAX_MANIFEST:
            return None
        return body

    def _context(self, endpoint: Endpoint) -> ssl.SSLContext:
        context = self._contexts.get(endpoint)
        if context is None:
            context = ssl.create_default_context()
            if endpoint.skip_verify:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            for ca_file in endpoint.ca_files:
                context.load_verify_locations(cafile=ca_file)
            for cert, key in endpoint.client_pairs:
                context.load_cert_chain(cert, key)
            self._contexts[endpoint] = context
        return context
