from __future__ import annotations

import logging
import sys

import pytest

from loop_detector.settings import DetectorSettings
from loop_shared.logs import SecretFilter
from loop_shared.settings import ConfigurationError, NodeSettings, load_settings, loop_base_urls


@pytest.mark.parametrize(("host", "base", "ws"), [
    ("learning-loop.ai", "https://learning-loop.ai", "wss://learning-loop.ai"),
    ("preview.learning-loop.ai:443", "https://preview.learning-loop.ai:443", "wss://preview.learning-loop.ai:443"),
    ("localhost:8000", "http://localhost:8000", "ws://localhost:8000"),
    ("10.0.0.5", "http://10.0.0.5", "ws://10.0.0.5"),
    ("https://loop.example.com", "https://loop.example.com", "wss://loop.example.com"),
    ("http://loop.example.com:8080/", "http://loop.example.com:8080", "ws://loop.example.com:8080"),
])
def test_host_is_turned_into_urls_like_the_reference_client(host: str, base: str, ws: str) -> None:
    assert loop_base_urls(host) == (base, ws)
    settings = load_settings(NodeSettings, host=host)
    assert (settings.base_url, settings.socket_url) == (base, ws)


@pytest.mark.parametrize("host", ["ftp://loop", "loop host", "localhost:notaport", "http://", "localhost:99999"])
def test_malformed_host_is_one_line_naming_the_variable(host: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        load_settings(NodeSettings, host=host)
    message = str(error.value)
    assert message.startswith("configuration error: LOOP_HOST:")
    assert "\n" not in message


def test_missing_required_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOOP_ORGANIZATION", raising=False)
    monkeypatch.setenv("LOOP_PROJECT", "demo")
    with pytest.raises(ConfigurationError, match="LOOP_ORGANIZATION: Field required"):
        load_settings(DetectorSettings)


def test_settings_come_from_loop_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOP_ORGANIZATION", "acme")
    monkeypatch.setenv("LOOP_PROJECT", "bolts")
    monkeypatch.setenv("LOOP_NODE_PORT", "9000")
    monkeypatch.setenv("LOOP_CONF_THRESHOLD", "0.4")
    settings = load_settings(DetectorSettings)
    assert (settings.organization, settings.project, settings.node_port, settings.conf_threshold) == \
        ("acme", "bolts", 9000, 0.4)


def test_password_never_in_repr_or_public_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOP_PASSWORD", "hunter2-secret")
    settings = load_settings(NodeSettings)
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.public())
    assert settings.password.get_secret_value() == "hunter2-secret"


def test_secret_filter_scrubs_log_messages() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "login with %s failed", ("hunter2-secret",), None)
    SecretFilter(["hunter2-secret"]).filter(record)
    assert record.getMessage() == "login with *** failed"


@pytest.mark.parametrize("host", ["http://user:hunter2-secret@loop.example:8080", "user:hunter2-secret@loop.example",
                                  "https://hunter2-secret@loop.example"])
def test_credentials_in_the_host_are_refused_without_being_echoed(host: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(NodeSettings, host=host)
    message = str(caught.value)
    assert "hunter2-secret" not in message and "LOOP_HOST" in message and "LOOP_PASSWORD" in message


def test_secret_filter_scrubs_tracebacks() -> None:
    try:
        raise RuntimeError("cannot reach http://u:hunter2-secret@loop/")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    SecretFilter(["hunter2-secret"]).filter(record)
    text = logging.Formatter().format(record)
    assert "RuntimeError" in text and "hunter2-secret" not in text and "***" in text
