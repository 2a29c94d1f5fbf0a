"""Registry endpoints and credentials from the configuration."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path

import pytest

from crio_py.config.model import Credentials, Endpoint, RegistryAuth, RegistrySettings, RegistryTls
from crio_py.config.registry import endpoints
from crio_py.config.registry.endpoints import Resolver, credentials_for, endpoints_for


def test_without_configuration_the_registry_itself_over_https() -> None:
    assert endpoints_for(RegistrySettings(), "quay.io") == [Endpoint(host="quay.io")]
    assert endpoints_for(RegistrySettings(), "docker.io") == [Endpoint(host="registry-1.docker.io")]


def test_hosts_toml_mirrors_come_first_then_the_server(tmp_path: Path) -> None:
    directory = tmp_path / "certs.d" / "reg.example.com_5000_"
    directory.mkdir(parents=True)
    (directory / "ca.pem").write_text("x")
    (directory / "hosts.toml").write_text(
        'server = "https://reg.example.com:5000"\nca = "ca.pem"\n'
        '[host."http://127.0.0.1:6000"]\n  capabilities = ["pull", "resolve"]\n'
        '[host."https://push-only:7000"]\n  capabilities = ["push"]\n'
    )
    registry = RegistrySettings(config_path=(tmp_path / "certs.d",))
    assert endpoints_for(registry, "reg.example.com:5000") == [
        Endpoint(host="127.0.0.1:6000", scheme="http", mirror=True),
        Endpoint(host="reg.example.com:5000", ca_files=(directory / "ca.pem",)),
    ]


def test_a_hosts_toml_that_does_not_parse_is_ignored(tmp_path: Path) -> None:
    directory = tmp_path / "quay.io"
    directory.mkdir()
    (directory / "hosts.toml").write_text("server = [")
    registry = RegistrySettings(config_path=(tmp_path,))
    assert endpoints_for(registry, "quay.io") == [Endpoint(host="quay.io")]


def test_legacy_mirrors_tls_and_insecure_hosts() -> None:
    registry = RegistrySettings(
        mirrors={"*": ("mirror.example.com",)},
        tls={"mirror.example.com": RegistryTls(ca_file="/ca.pem", insecure_skip_verify=True)},
        insecure_hosts=("plain.example.com",),
    )
    assert endpoints_for(registry, "quay.io") == [
        Endpoint(
            host="mirror.example.com", skip_verify=True, ca_files=(Path("/ca.pem"),), mirror=True
        ),
        Endpoint(host="quay.io"),
    ]
    assert endpoints_for(registry, "plain.example.com")[-1] == Endpoint(
        host="plain.example.com", scheme="http", skip_verify=True
    )


def test_credentials_from_the_config_and_from_an_auth_file(tmp_path: Path) -> None:
    encoded = base64.b64encode(b"u:p").decode()
    registry = RegistrySettings(auths={"a.example.com": RegistryAuth(auth=encoded)})
    found = credentials_for(registry, "a.example.com")
    assert found is not None and (found.username, found.password) == ("u", "p")
    auth_file = tmp_path / "auth.json"
    auth_file.write_text(json.dumps({"auths": {"b.example.com": {"auth": encoded}}}))
    registry = RegistrySettings(global_auth_file=auth_file)
    found = credentials_for(registry, "b.example.com")
    assert found is not None and found.username == "u"
    assert credentials_for(registry, "c.example.com") is None


def test_an_auth_file_entry_that_does_not_decode_is_skipped_unquoted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    auth_file = tmp_path / "auth.json"
    undecodable = base64.b64encode(b"user:s3cr3t-\xe9").decode()
    auth_file.write_text(json.dumps({"auths": {"a.example.com": {"auth": undecodable}}}))
    registry = RegistrySettings(global_auth_file=auth_file)
    with caplog.at_level(logging.WARNING):
        assert credentials_for(registry, "a.example.com") is None
    assert "not base64 of USERNAME:PASSWORD" in caplog.text
    assert undecodable not in caplog.text and "0xe9" not in caplog.text


def test_an_auth_file_entry_keeps_its_identity_token(tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"
    entry = {"auth": base64.b64encode(b"u:p").decode(), "identitytoken": "t0ken-5e"}
    auth_file.write_text(json.dumps({"auths": {"https://a.example.com": entry}}))
    found = credentials_for(RegistrySettings(global_auth_file=auth_file), "a.example.com")
    assert found == Credentials(username="u", password="p", identity_token="t0ken-5e")


def test_the_resolver_parses_a_hosts_file_once_per_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "certs.d" / "reg.example.com"
    directory.mkdir(parents=True)
    hosts = directory / "hosts.toml"
    hosts.write_text('server = "https://reg.example.com"\n[host."http://127.0.0.1:6000"]\n')
    parsed: list[Path] = []
    read_hosts = endpoints._read_hosts

    def counted(path: Path) -> object:
        parsed.append(path)
        return read_hosts(path)

    monkeypatch.setattr(endpoints, "_read_hosts", counted)
    resolver = endpoints.Resolver(RegistrySettings(config_path=(tmp_path / "certs.d",)))
    first = resolver.endpoints("reg.example.com")
    assert resolver.endpoints("reg.example.com") == first
    assert parsed == [hosts]
    hosts.write_text('server = "https://reg.example.com"\n[host."http://127.0.0.1:6001"]\n')
    _touch_later(hosts)
    assert next(e.host for e in resolver.endpoints("reg.example.com")) == "127.0.0.1:6001"
    assert parsed == [hosts, hosts]
    hosts.unlink()
    assert resolver.endpoints("reg.example.com") == [Endpoint(host="reg.example.com")]


def test_the_resolver_rereads_an_auth_file_only_when_it_changes(tmp_path: Path) -> None:
    auth_file = tmp_path / "auth.json"

    def write(user: str) -> None:
        token = base64.b64encode(f"{user}:pw".encode()).decode()
        auth_file.write_text(json.dumps({"auths": {"reg.example.com": {"auth": token}}}))

    write("alice")
    resolver = Resolver(RegistrySettings(global_auth_file=auth_file))
    found = resolver.credentials("reg.example.com")
    assert found is not None and found.username == "alice"
    assert resolver.credentials("other.example.com") is None
    write("bobby")  # the same size: the mtime tells the change
    _touch_later(auth_file)
    found = resolver.credentials("reg.example.com")
    assert found is not None and found.username == "bobby"


def _touch_later(path: Path) -> None:
    """A later mtime, as an edit a clock tick later gives (writes within one tick may not)."""
    later = path.stat().st_mtime_ns + 1_000_000
    os.utime(path, ns=(later, later))
