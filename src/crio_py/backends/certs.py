"""A self-signed certificate for the streaming server when TLS is asked for without one
(containerd generates one the same way), made by `openssl req -x509`."""

from __future__ import annotations

from pathlib import Path

from crio_py.backends import _exec

VALID_DAYS = 365


async def self_signed(directory: Path, common_name: str) -> tuple[Path, Path]:
    """A certificate and its key under `directory` (made again on every start)."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    cert, key = directory / "stream.crt", directory / "stream.key"
    argv = [
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
        "-days", str(VALID_DAYS), "-subj", f"/CN={common_name}",
        "-keyout", str(key), "-out", str(cert),
    ]  # fmt: skip
    await _exec.run(argv, timeout_s=60)
    key.chmod(0o600)
    return cert, key
