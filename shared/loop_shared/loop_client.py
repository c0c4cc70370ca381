"""REST client for the Learning Loop: cookie login, retries with backoff, streaming downloads.

Every request has a timeout. Connection errors and 5xx answers are retried with capped exponential backoff and
jitter; 429 waits as long as `Retry-After` says; a 401 triggers one fresh login and one repeat. Whatever the
HTTP stack raises while a request is under way counts as a connection failure: besides httpx's own errors,
a connection reset right after the handshake can surface as another type (an AttributeError from the socket
layer under uvloop), and no caller may die of that.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .backoff import Backoff, parse_retry_after, retry_after_seconds
from .clock import SYSTEM_CLOCK, Clock
from .errors import (
    LoopAuthError,
    LoopConflictError,
    LoopError,
    LoopInvalidError,
    LoopNotFoundError,
    LoopRateLimitedError,
    LoopRefusedError,
    LoopResponseError,
    LoopUnauthorisedError,
    LoopUnavailableError,
)
from .loop_api.paths import LOGIN
from .settings import NodeSettings

log = logging.getLogger("loop.client")

_FILENAME_RE = re.compile(r'filename\*?=(?:UTF-8\'\')?"?([^";]+)"?', re.IGNORECASE)


@dataclass
class RetryPolicy:
    attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0


def _verify(settings: NodeSettings) -> ssl.SSLContext | bool:
    if settings.ssl_cert_path:
        return ssl.create_default_context(cafile=str(settings.ssl_cert_path))
    return True


class LoopClient:
    """One httpx client per node; safe to share between tasks. The waits between attempts are on `clock`."""

    def __init__(self, settings: NodeSettings, retry: RetryPolicy | None = None,
                 transport: httpx.AsyncBaseTransport | None = None, clock: Clock = SYSTEM_CLOCK) -> None:
        self.settings = settings
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self._http = httpx.AsyncClient(base_url=settings.base_url + "/api",
                                       timeout=httpx.Timeout(settings.request_timeout),
                                       verify=_verify(settings), transport=transport)
        self._login_lock = asyncio.Lock()
        self._logged_in = False

    def cookie_header(self) -> str:
        return "; ".join(f"{c.name}={c.value}" for c in self._http.cookies.jar)

    async def close(self) -> None:
        await self._http.aclose()

    async def login(self, force: bool = False) -> None:
        """POST /api/login with the configured credentials; the session cookie lands in the client's jar."""
        async with self._login_lock:
            if self._logged_in and not force:
                return
            self._http.cookies.clear()
            data = {"username": self.settings.username,
                    "password": self.settings.password.get_secret_value()}
            response = await self._send(LOGIN.method, LOGIN.path(), data=data, attempts=self.retry.attempts)
            if response.status_code != 200:
                raise LoopAuthError(f"login as {self.settings.username!r} at {self.settings.base_url} failed "
                                    f"with HTTP {response.status_code}")
            self._logged_in = True
            log.info("logged in to %s as %r", self.settings.base_url, self.settings.username)

    async def request(self, method: str, path: str, *, requires_login: bool = True,
                      attempts: int | None = None, timeout: float | None = None, **kwargs: Any) -> httpx.Response:
        """Send a request to `/api{path}` and return the final response (which may be a 4xx).

        Raises LoopUnavailableError when the Loop stayed unreachable or overloaded through every attempt.
        """
        if requires_login and not self._logged_in:
            await self.login()
        attempts = attempts or self.retry.attempts
        if timeout is not None:
            kwargs["timeout"] = timeout
        response = await self._send(method, path, attempts=attempts, **kwargs)
        if response.status_code == 401 and requires_login:
            log.info("Loop answered 401 for %s %s; logging in again", method, path)
            await self.login(force=True)
            response = await self._send(method, path, attempts=attempts, **kwargs)
        return response

    async def _send(self, method: str, path: str, *, attempts: int, **kwargs: Any) -> httpx.Response:
        backoff = Backoff(self.retry.backoff_base, self.retry.backoff_cap)
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            try:
                response = await self._http.request(method, path, **kwargs)
            except Exception as e:
                failure = _connection_failure(method, path, e)
                if last:
                    raise failure from e
                delay = backoff.next_delay()
                log.warning("%s; retrying in %.1f s", failure, delay)
                await self.clock.sleep(delay)
                continue
            wait = _retry_delay(response, backoff)
            if wait is None:
                return response
            if last:
                if response.status_code == 429:
                    return response
                raise LoopUnavailableError(f"{method} {path}: HTTP {response.status_code} after {attempts} "
                                           "attempts", response.status_code)
            log.warning("%s %s answered %d; retrying in %.1f s", method, path, response.status_code, wait)
            await self.clock.sleep(wait)
        raise AssertionError("unreachable")

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, **kwargs)

    async def get_json(self, path: str, **kwargs: Any) -> Any:
        response = await self.get(path, **kwargs)
        if response.status_code != 200:
            raise answer_error("GET", path, response.status_code, response.text, response.headers)
        try:
            return response.json()
        except ValueError as e:
            raise LoopResponseError(f"GET {path}: the answer is not JSON") from e

    async def download(self, path: str, dest_dir: Path, *, filename: str | None = None,
                       requires_login: bool = False) -> Path:
        """Stream `/api{path}` into `dest_dir`, written atomically; the name comes from Content-Disposition.

        Retries like any request; a non-200 answer raises LoopResponseError.
        """
        if requires_login and not self._logged_in:
            await self.login()
        dest_dir.mkdir(parents=True, exist_ok=True)
        backoff = Backoff(self.retry.backoff_base, self.retry.backoff_cap)
        timeout = httpx.Timeout(self.settings.request_timeout, read=self.settings.download_timeout)
        for attempt in range(1, self.retry.attempts + 1):
            try:
                async with self._http.stream("GET", path, timeout=timeout) as response:
                    delay = _retry_delay(response, backoff)
                    if delay is not None:
                        if attempt == self.retry.attempts:
                            if response.status_code == 429:
                                raise answer_error("GET", path, 429, "", response.headers)
                            raise LoopUnavailableError(f"GET {path}: HTTP {response.status_code}",
                                                       response.status_code)
                        await self.clock.sleep(delay)
                        continue
                    if response.status_code != 200:
                        body = (await response.aread())[:200].decode(errors="replace")
                        raise answer_error("GET", path, response.status_code, body, response.headers)
                    name = filename or _filename_from(response.headers.get("content-disposition")) \
                        or Path(path).name or "download"
                    target = dest_dir / Path(name).name
                    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=dest_dir)
                    try:
                        with os.fdopen(fd, "wb") as out:
                            async for chunk in response.aiter_bytes(1024 * 1024):
                                try:
                                    out.write(chunk)
                                except OSError as e:  # our disk, not the connection: no retry
                                    raise _LocalWriteError(e) from e
                        os.replace(tmp, target)
                    except BaseException:
                        Path(tmp).unlink(missing_ok=True)
                        raise
                    return target
            except _LocalWriteError as e:
                raise e.error from None
            except LoopError:
                raise
            except Exception as e:
                failure = _connection_failure("GET", path, e)
                if attempt == self.retry.attempts:
                    raise failure from e
                await self.clock.sleep(backoff.next_delay())
        raise AssertionError("unreachable")


class _LocalWriteError(Exception):
    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _connection_failure(method: str, path: str, error: Exception) -> LoopUnavailableError:
    """The error a failed exchange becomes; anything but httpx's own errors is logged as unexpected."""
    if not isinstance(error, httpx.HTTPError):
        log.warning("unexpected %s inside the HTTP stack during %s %s: %s", type(error).__name__, method, path, error)
    text = " ".join(str(error).split())
    return LoopUnavailableError(f"{method} {path}: {type(error).__name__}{': ' + text if text else ''}")


def _retry_delay(response: httpx.Response, backoff: Backoff) -> float | None:
    """How long to wait before repeating a request that got this answer; None when it is final (not 429/5xx).

    429 waits as long as Retry-After says; 5xx and a 429 without the header take the next backoff delay.
    """
    if response.status_code != 429 and response.status_code < 500:
        return None
    delay = backoff.next_delay()
    if response.status_code == 429:
        delay = retry_after_seconds(response.headers.get("retry-after"), delay)
    return delay


def answer_error(method: str, path: str, status: int, text: str, headers: httpx.Headers) -> LoopError:
    """The typed error for a final answer that is not what the call expects (see errors.py for the classes)."""
    message = f"{method} {path}: HTTP {status}: {text[:200]}".rstrip(": ")
    if status == 429:
        return LoopRateLimitedError(message, parse_retry_after(headers.get("retry-after")))
    if status >= 500 or status == 408:  # the Loop is overloaded or timed out: later it may work
        return LoopUnavailableError(message, status)
    if status == 401:
        return LoopUnauthorisedError(message, status)
    if status == 404:
        return LoopNotFoundError(message, status)
    if status == 409:
        return LoopConflictError(message, status, detail=_detail(text))
    if status in (413, 422):
        return LoopInvalidError(message, status)
    if 400 <= status < 500:
        return LoopRefusedError(message, status)
    return LoopResponseError(message, status)


def _detail(text: str) -> Any:
    """The `detail` of a JSON error answer (FastAPI's shape, and the Loop's), or None."""
    try:
        body = json.loads(text)
    except ValueError:
        return None
    return body.get("detail") if isinstance(body, dict) else None


def _filename_from(header: str | None) -> str | None:
    if not header:
        return None
    match = _FILENAME_RE.search(header)
    return match.group(1).strip() if match else None
