"""Settings every node shares, read from `LOOP_*` environment variables.

Each service subclasses `NodeSettings`, adds its own fields and builds one instance at start-up with
`load_settings`, which turns a validation error into one line naming the offending variable.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "LOOP_"
SECURE_HOST_MARKER = "learning-loop.ai"
_HOST_RE = re.compile(r"^[A-Za-z0-9._\-\[\]:]+$")


class ConfigurationError(Exception):
    """A `LOOP_*` variable is missing or malformed; the message names it."""


def loop_base_urls(host: str) -> tuple[str, str]:
    """Return the REST base URL and the Socket.IO URL for a `LOOP_HOST` value.

    Like the reference client, a bare `host[:port]` uses https/wss only when it contains `learning-loop.ai`.
    An explicit `http://` or `https://` scheme is honoured as given.
    """
    host = host.strip().rstrip("/")
    if host.startswith(("http://", "https://")):
        base = host
    else:
        scheme = "https" if SECURE_HOST_MARKER in host else "http"
        base = f"{scheme}://{host}"
    ws = "wss" + base[len("https"):] if base.startswith("https") else "ws" + base[len("http"):]
    return base, ws


def _without_credentials(value: str) -> str:
    """`value` with any `user:password@` part masked, for error messages."""
    return re.sub(r"^((?:[A-Za-z][A-Za-z0-9+.-]*://)?)[^/@]*@", r"\1***@", value)


def _check_host(value: str) -> str:
    value = value.strip()
    if "@" in (value.partition("://")[2] if "://" in value else value).split("/")[0]:
        raise ValueError(f"{_without_credentials(value)!r}: credentials do not belong in the host; set "
                         "LOOP_USERNAME and LOOP_PASSWORD")
    if value.endswith("://"):
        raise ValueError(f"{value!r} has no host name")
    value = value.rstrip("/")
    if not value:
        raise ValueError("must not be empty")
    rest = value
    if "://" in value:
        scheme, _, rest = value.partition("://")
        if scheme not in ("http", "https"):
            raise ValueError(f"scheme {scheme!r} is not supported (use http:// or https://)")
    if not rest or not _HOST_RE.match(rest):
        raise ValueError(f"{_without_credentials(value)!r} is not host[:port] or http(s)://host[:port]")
    try:
        parsed = urlsplit(f"http://{rest}")
        _ = parsed.port  # raises on a non-numeric or out-of-range port
    except ValueError as e:
        raise ValueError(f"{value!r} has an invalid port") from e
    if not parsed.hostname:
        raise ValueError(f"{value!r} has no host name")
    return value


class NodeSettings(BaseSettings):
    """What every node needs to find and talk to the Learning Loop."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", env_ignore_empty=True)

    host: str = Field("learning-loop.ai", description="Loop address: host[:port] or http(s)://host[:port]; "
                      "bare hosts use https only for learning-loop.ai, as the reference client does.")
    username: str = Field("", description="Loop user name for the cookie login.")
    password: SecretStr = Field(SecretStr(""), description="Loop password; never logged or served.")
    organization: str = Field("", description="Organization id on the Loop.")
    project: str = Field("", description="Project id on the Loop.")
    data_dir: Path = Field(Path("/data"), description="Directory where the node keeps all its state.")
    node_port: int = Field(8000, ge=1, le=65535, description="Port the node's own HTTP server listens on.")
    bind_host: str = Field("0.0.0.0", description="Address the node's HTTP server binds to.")
    node_name: str = Field("", description="Human-readable node name reported to the Loop (default: derived).")
    ssl_cert_path: Path | None = Field(None, description="CA bundle for verifying the Loop's TLS certificate.")
    log_level: str = Field("INFO", description="Log level: DEBUG, INFO, WARNING or ERROR.")
    request_timeout: float = Field(30.0, gt=0, description="Timeout in seconds for ordinary Loop requests.")
    download_timeout: float = Field(600.0, gt=0, description="Timeout in seconds for model and image downloads.")

    @field_validator("host")
    @classmethod
    def _valid_host(cls, value: str) -> str:
        return _check_host(value)

    @field_validator("log_level")
    @classmethod
    def _valid_level(cls, value: str) -> str:
        value = value.upper()
        if value not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    @property
    def base_url(self) -> str:
        return loop_base_urls(self.host)[0]

    @property
    def socket_url(self) -> str:
        return loop_base_urls(self.host)[1]

    def public(self) -> dict[str, object]:
        """The settings as they may be shown in logs and APIs: secrets left out."""
        return self.model_dump(mode="json", exclude={"password"})


S = TypeVar("S", bound=BaseSettings)


def describe_validation_error(error: ValidationError, prefix: str = ENV_PREFIX) -> str:
    parts = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        message = item["msg"].removeprefix("Value error, ")
        parts.append(f"{prefix}{field.upper()}: {message}")
    return "; ".join(parts)


def load_settings(cls: type[S], **overrides: object) -> S:
    """Build the settings once, raising ConfigurationError with one line naming the variable."""
    try:
        factory: Any = cls
        return cast(S, factory(**overrides))
    except ValidationError as e:
        raise ConfigurationError(f"configuration error: {describe_validation_error(e)}") from None


def load_settings_or_exit(cls: type[S]) -> S:
    """For console entry points: print the one-line configuration error and exit with status 2."""
    try:
        return load_settings(cls)
    except ConfigurationError as e:
        print(e, file=sys.stderr)
        raise SystemExit(2) from None
