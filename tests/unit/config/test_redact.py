"""config.redact: the one rule for what of a configuration is secret, and every path that
shows configuration values (config show, the settings JSON, lint's messages) following it."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from crio_py.cli import main
from crio_py.config.load import load_settings
from crio_py.config.model import Credentials
from crio_py.config.redact import REDACTED, redact, redacted_settings, settings_json
from tests.unit.config.lint_helpers import lint

USER = "u5er-7f3a"
PASSWORD = "s3cr3t-9c1e"
TOKEN = "t0ken-4b2d"
LEGACY_PASSWORD = "s3cr3t-legacy-51aa"
HEADER = "Bearer s3cr3t-header-0d9e"
ENCODED = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
SECRETS = (USER, PASSWORD, TOKEN, LEGACY_PASSWORD, HEADER, ENCODED)

REGISTRY = '[plugins."io.containerd.cri.v1.images".registry]\n'
CONFIG = (
    "version = 3\n"
    f'{REGISTRY[:-2]}.configs."reg.example.com".auth]\n'
    f'  username = "{USER}"\n  password = "{PASSWORD}"\n  identitytoken = "{TOKEN}"\n'
    f'{REGISTRY[:-2]}.configs."other.example.com".auth]\n  auth = "{ENCODED}"\n'
    f'{REGISTRY[:-2]}.auths."https://legacy.example.com"]\n'
    f'  username = "legacy"\n  password = "{LEGACY_PASSWORD}"\n'
    f'{REGISTRY[:-2]}.headers]\n  Authorization = ["{HEADER}"]\n  X-Trace = ["on"]\n'
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG)
    return path


def _leaked(text: str) -> list[str]:
    return [secret for secret in SECRETS if secret in text]


def test_every_secret_key_is_hidden_and_everything_else_kept() -> None:
    data = {
        "auths": {"reg": {"username": "u", "password": "p", "auth": "YTpi", "identity_token": "t"}},
        "headers": {"Authorization": ["Basic x"], "Proxy-Authorization": "y", "Accept": ["z"]},
        "registry_token": "r",
        "root": "/var/lib/x",
    }
    assert redact(data) == {
        "auths": {
            "reg": {
                "username": REDACTED,
                "password": REDACTED,
                "auth": REDACTED,
                "identity_token": REDACTED,
            }
        },
        "headers": {"Authorization": REDACTED, "Proxy-Authorization": REDACTED, "Accept": ["z"]},
        "registry_token": REDACTED,
        "root": "/var/lib/x",
    }


def test_a_table_under_a_secret_key_is_walked_not_dropped() -> None:
    # containerd's registry.configs."<host>".auth is a table: its keys are judged one by one.
    raw = {"configs": {"h": {"auth": {"password": "p", "note": "kept"}}}}
    assert redact(raw) == {"configs": {"h": {"auth": {"password": REDACTED, "note": "kept"}}}}


def test_an_empty_secret_stays_empty_and_redact_copies() -> None:
    data = {"password": "", "identitytoken": None, "username": [], "auth": 12345}
    assert redact(data) == {"password": "", "identitytoken": None, "username": [], "auth": REDACTED}
    assert data["auth"] == 12345  # the input is not changed


def test_the_settings_json_carries_no_credential(config: Path) -> None:
    settings, _ = load_settings(config)
    assert settings.registry.auths["reg.example.com"].password == PASSWORD  # still usable
    text = settings_json(settings)
    assert _leaked(text) == []
    auths = json.loads(text)["registry"]["auths"]
    assert auths["reg.example.com"] == {
        "username": REDACTED,
        "password": REDACTED,
        "auth": "",
        "identity_token": REDACTED,
    }
    assert auths["other.example.com"]["auth"] == REDACTED
    assert auths["legacy.example.com"]["password"] == REDACTED
    headers = redacted_settings(settings)["registry"]["headers"]
    assert headers == {"Authorization": REDACTED, "X-Trace": ["on"]}


def test_no_repr_of_the_settings_shows_a_credential(config: Path) -> None:
    settings, _ = load_settings(config)
    credentials = Credentials(username=USER, password=PASSWORD, identity_token=TOKEN)
    assert _leaked(repr(settings.registry.auths) + repr(credentials) + str(credentials)) == []


@pytest.mark.parametrize("output", ["toml", "json"])
def test_config_show_hides_every_credential(
    config: Path, output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", str(config), "--output", output]) == 0
    captured = capsys.readouterr()
    assert _leaked(captured.out + captured.err) == []
    assert REDACTED in captured.out


def test_lint_says_the_type_of_a_secret_never_its_value(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        "version = 3\n"
        f'{REGISTRY[:-2]}.configs."a.example.com".auth]\n  password = 918273645\n'
        f'{REGISTRY[:-2]}.configs."b.example.com"]\n  auth = "{ENCODED}"\n'
    )
    diagnostics = lint(path)
    assert sorted(d.message for d in diagnostics if d.code == "invalid-type") == [
        "`auth` must be a table, not a string",
        "`password` must be a string, not an integer",
    ]
    assert [d for d in diagnostics if "918273645" in d.message + str(d.hint)] == []
    assert [d for d in diagnostics if _leaked(d.message + str(d.hint))] == []
    # A value that is no secret is still quoted: it helps to see what was written.
    path.write_text('version = 3\n[plugins."io.containerd.cri.v1.images"]\n  snapshotter = 7\n')
    assert "not the integer 7" in lint(path)[0].message


def test_an_auth_field_that_does_not_decode_is_an_error_that_quotes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "config.toml"
    latin1 = base64.b64encode(f"{USER}:{PASSWORD}\xe9".encode("latin-1")).decode()
    for value in (f"{PASSWORD}!", latin1):
        path.write_text(
            f'version = 3\n{REGISTRY[:-2]}.configs."a.example.com".auth]\n  auth = "{value}"\n'
        )
        diagnostics = lint(path)
        assert [d for d in diagnostics if _leaked(d.message + str(d.hint))] == []
        (diagnostic,) = [d for d in diagnostics if d.severity == "error"]
        assert (diagnostic.code, diagnostic.severity) == ("invalid-value", "error")
        assert "not base64 of USERNAME:PASSWORD" in diagnostic.message
        assert value not in diagnostic.message and "0xe9" not in diagnostic.message


def test_credentials_from_an_auth_field() -> None:
    assert Credentials.from_auth(ENCODED) == Credentials(username=USER, password=PASSWORD)
    wrapped = ENCODED[:8] + "\n" + ENCODED[8:] + "\r\n"  # as `base64` wraps its output
    assert Credentials.from_auth(wrapped).password == PASSWORD
    assert Credentials(username=USER, password=PASSWORD).to_auth() == ENCODED
    for bad in (f"{PASSWORD}!", base64.b64encode(b"\xff\xfe").decode()):
        with pytest.raises(ValueError) as caught:
            Credentials.from_auth(bad)
        assert str(caught.value) == "the auth field is not base64 of USERNAME:PASSWORD"
        assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_secret_values_name_every_form_of_the_credentials() -> None:
    credentials = Credentials(username=USER, password=PASSWORD, identity_token=TOKEN)
    assert set(credentials.secret_values()) == {USER, PASSWORD, TOKEN, ENCODED}
    assert Credentials(identity_token=TOKEN).secret_values() == (TOKEN,)
