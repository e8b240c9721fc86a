"""One retry policy for every Scaleway and Kubernetes API call kosmos makes (issue 20).

Transient faults are retried: HTTP 429 (after `Retry-After` when the answer has one, in seconds or as an HTTP date),
any 5xx, a connection refused/reset/dropped without an answer, a timeout. Between attempts the policy sleeps with
capped exponential backoff and full jitter (uniform in [0, min(cap, base * 2**(attempt-1))]), never less than the
server's Retry-After, and never past the caller's deadline: when the next sleep would pass it, the call fails at
once with RetryExhausted, which names the call, the attempts made and the last fault. Everything else is answered to
the caller at once: 400/401/403 (with the API's message), 404 (the caller decides whether "gone" is fine).

Why here and not in the clients: the Scaleway SDK does not retry (scaleway-sdk-python 2.12, scaleway_core/api.py:
`API._request` is one `requests.request(...)`, `_throw_on_error` raises `ScalewayException(response)` for any
status >= 400, whose `status_code` and `response.headers` carry the status and `Retry-After`; connection failures
surface as `requests.exceptions.ConnectionError`/`Timeout`). The Kubernetes client (kubernetes 31.0.0,
client/rest.py) raises `ApiException` with `.status` and `.headers` for a non-2xx answer, and urllib3 errors
(`MaxRetryError`, `ProtocolError`, `ReadTimeoutError`) when no answer came. The node-metadata GET is plain urllib
(it follows the URL the API returned, as k8s-agent does): `urllib_fault` classifies its HTTPError/URLError/OSError.

A POST is retried like any call: the only POST kosmos makes to Scaleway is `auth_external_node`, and whether a lost
answer created a node is unknowable from here either way (failing the run leaves the same orphan as retrying).

Every attempt is bounded in time (connect and read timeouts, never past the deadline): the Kubernetes client takes
`_request_timeout`; the Scaleway SDK passes no timeout to `requests` at all, so a server that accepted a connection
and never answered would block the attempt for good: see _sdk_timeout.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import http.client
import random as _random
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar, Union

T = TypeVar("T")

BASE_SECONDS = 0.5
CAP_SECONDS = 20.0
"""Backoff: attempt n waits up to min(CAP, BASE * 2**(n-1)); 0.5, 1, 2, 4, 8, 16, 20, 20, ..."""
CONNECT_TIMEOUT_SECONDS = 10.0
READ_TIMEOUT_SECONDS = 60.0
"""Per attempt: to connect, and between bytes of the answer (shortened to what is left before the deadline)."""


class RetryExhausted(Exception):
    """A transient fault outlasted the caller's deadline (or the Retry-After the server asked for would pass it)."""

    def __init__(self, call: str, attempts: int, last: str, waited: float):
        self.call, self.attempts, self.last, self.waited = call, attempts, last, waited
        super().__init__(
            f"{call}: gave up after {attempts} attempt{'s' if attempts != 1 else ''} in {waited:.1f}s (the next "
            f"would start after the deadline); last: {last}"
        )


@dataclass(frozen=True)
class Fault:
    """A transient failure of one attempt: what it was (for messages) and how long the server asked to wait."""

    last: str
    retry_after: Optional[float] = None


def parse_retry_after(value: Optional[str], now: Callable[[], float] = time.time) -> Optional[float]:
    """`Retry-After` (RFC 9110 10.2.3): delay-seconds or an HTTP-date; seconds from now, or None if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=_dt.timezone.utc)
    return max(0.0, when.timestamp() - now())


class RetryPolicy:
    """Capped exponential backoff with full jitter, within a deadline on `clock`'s scale. Clock, sleep, random and
    wall time (for HTTP-date Retry-After) are injectable for tests; the defaults are the real ones."""

    def __init__(
        self,
        *,
        base: float = BASE_SECONDS,
        cap: float = CAP_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        random: Callable[[], float] = _random.random,
        now: Callable[[], float] = time.time,
        log: Optional[Callable[[str], None]] = None,
    ):
        self.base, self.cap = base, cap
        self.connect_timeout, self.read_timeout = CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS
        self.clock, self.sleep, self.random, self.now = clock, sleep, random, now
        self.log = log if log is not None else (lambda line: print(line, file=sys.stderr))

    def delay(self, attempt: int, retry_after: Optional[float] = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): full jitter, at least Retry-After."""
        ceiling = min(self.cap, self.base * (2 ** (attempt - 1)))
        return max(retry_after or 0.0, self.random() * ceiling)

    def attempt_timeout(self, deadline: float) -> tuple[float, float]:
        """(connect, read) seconds for the next attempt: the policy's, no longer than what is left (at least 0.1 s)."""
        left = max(0.1, deadline - self.clock())
        return min(self.connect_timeout, left), min(self.read_timeout, left)

    def call(self, what: str, fn: Callable[[], T], *, deadline: float,
             transient: Callable[[BaseException], Optional[Fault]]) -> T:
        """fn() until it returns, retrying the exceptions `transient` maps to a Fault; any other exception is
        raised as is. RetryExhausted (chained to the last fault) when the next wait would pass `deadline`."""
        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - classified right below; non-transient ones re-raised
                fault = transient(exc)
                if fault is None:
                    raise
                wait = self.delay(attempt, fault.retry_after)
                if self.clock() + wait > deadline:
                    raise RetryExhausted(what, attempt, fault.last, self.clock() - start) from exc
                self.log(f"kosmos: {what}: {fault.last}; attempt {attempt + 1} in {wait:.1f}s")
                self.sleep(wait)


def _connection_fault(exc: BaseException) -> Optional[Fault]:
    """No answer at all (refused, reset, dropped, timed out), from requests or from urllib3 directly."""
    import requests
    import urllib3

    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                        requests.exceptions.ChunkedEncodingError)):
        if isinstance(exc, requests.exceptions.SSLError):
            return None  # a certificate problem does not go away by itself
        return Fault(f"no answer ({type(exc).__name__}: {exc})")
    if isinstance(exc, urllib3.exceptions.HTTPError) and not isinstance(exc, urllib3.exceptions.SSLError):
        reason = getattr(exc, "reason", None)
        if isinstance(reason, urllib3.exceptions.SSLError):
            return None
        return Fault(f"no answer ({type(exc).__name__}: {exc})")
    return None


def _status_fault(status: Optional[int], headers, message: str, now: Callable[[], float]) -> Optional[Fault]:
    if status is not None and (status == 429 or status >= 500):
        retry_after = parse_retry_after((headers or {}).get("Retry-After"), now)
        return Fault(f"HTTP {status} {message}".rstrip(), retry_after)
    return None


def http_fault(exc: BaseException, *, now: Callable[[], float] = time.time) -> Optional[Fault]:
    """`transient` for RetryPolicy.call around plain `requests` or SDK calls: an exception carrying an HTTP answer
    (`requests.HTTPError` from raise_for_status(), `ScalewayException`: both have `.response`) is transient for 429
    and 5xx; no answer at all is transient too; anything else is not."""
    response = getattr(exc, "response", None)
    if response is not None and getattr(response, "status_code", None) is not None:
        return _status_fault(response.status_code, response.headers, scaleway_message(response), now)
    return _connection_fault(exc)


def urllib_fault(exc: BaseException, *, now: Callable[[], float] = time.time) -> Optional[Fault]:
    """`transient` for RetryPolicy.call around a plain `urllib.request.urlopen` (the node-metadata GET, which follows
    the URL the API gave, as k8s-agent does): an `HTTPError` (`.code`, `.headers`) is transient for 429 and 5xx; no
    answer (`URLError`, a reset, a timeout: all OSError) is transient unless it is a certificate problem."""
    import ssl
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return _status_fault(exc.code, exc.headers, str(exc.reason or ""), now)
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, (ssl.SSLCertVerificationError, ssl.CertificateError)):
        return None
    if isinstance(exc, (OSError, http.client.HTTPException)):  # URLError, ConnectionError, TimeoutError, ...
        return Fault(f"no answer ({type(exc).__name__}: {exc})")
    return None


# -- Scaleway (scaleway-sdk-python) ----------------------------------------------------------------------------------
def scaleway_message(response) -> str:
    """The API's own words: Scaleway's JSON error (`message`, and `type`/`fields`/`resource` when present), else the
    first line of the body (a proxy's HTML or plain text)."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict) and data.get("message"):
        extra = [f"{k}: {data[k]}" for k in ("type", "resource", "resource_id", "fields", "details") if data.get(k)]
        return data["message"] + (f" ({'; '.join(extra)})" if extra else "")
    text = (response.text or "").strip().splitlines()
    return text[0][:200] if text else response.reason or ""


def _call_name(request) -> str:
    path = urllib.parse.urlsplit(request.url).path if request is not None else "?"
    return f"Scaleway API {getattr(request, 'method', '?')} {path}"


def _scaleway_error_type():
    from scaleway_core.api import ScalewayException

    class ScalewayApiError(ScalewayException):
        """A permanent Scaleway answer (4xx): still a ScalewayException (status_code, response), with a readable
        message: the call, the status and the API's message."""

        def __str__(self) -> str:
            return f"{_call_name(self.response.request)}: HTTP {self.status_code} {scaleway_message(self.response)}"

    return ScalewayApiError


_SCALEWAY_API_ERROR = None


def scaleway_api_error_type():
    """The ScalewayApiError class (made on first use, so importing this module does not import the SDK)."""
    global _SCALEWAY_API_ERROR
    if _SCALEWAY_API_ERROR is None:
        _SCALEWAY_API_ERROR = _scaleway_error_type()
    return _SCALEWAY_API_ERROR


_sdk_timeout = threading.local()
"""The (connect, read) timeout of the Scaleway SDK call this thread is making, or none. scaleway_core/api.py calls
`requests.request(...)` without `timeout`, and requests then waits forever (HTTPAdapter.send(timeout=None)). The one
way in without copying the SDK's request code is the adapter: HTTPAdapter.send is wrapped once per process to use
this thread's timeout when its caller gave none; threads outside a retrying SDK call are untouched."""
_hook_lock = threading.Lock()


def _install_sdk_timeout_hook() -> None:
    from requests.adapters import HTTPAdapter

    with _hook_lock:
        if getattr(HTTPAdapter.send, "_kosmos_timeout", False):
            return
        original = HTTPAdapter.send

        def send(self, request, stream=False, timeout=None, *args, **kwargs):
            if timeout is None:
                timeout = getattr(_sdk_timeout, "value", None)
            return original(self, request, stream, timeout, *args, **kwargs)

        send._kosmos_timeout = True
        HTTPAdapter.send = send


class _TransientAnswer(Exception):
    def __init__(self, fault: Fault):
        super().__init__(fault.last)
        self.fault = fault


def retrying_scaleway(api: T, *, deadline: Union[float, Callable[[], float]],
                      policy: Optional[RetryPolicy] = None) -> T:
    """Make every HTTP call of this SDK API object (e.g. a `K8SV1API`) retry transient faults until `deadline`
    (`policy.clock` scale), and raise permanent errors as ScalewayApiError. Returns the same object. `deadline` may
    be a function, asked at each request's first attempt (a budget per request: `lambda: policy.clock() + 30`).

    It wraps the instance's `_request` (one HTTP exchange, so each page of a `list_*_all` is retried on its own, not
    the whole listing) and `_throw_on_error` (the SDK's error check after it), which every generated method calls.
    """
    policy = policy or RetryPolicy()
    request = api._request  # bound methods of the SDK's class
    error_type = scaleway_api_error_type()

    def transient(exc: BaseException) -> Optional[Fault]:
        return exc.fault if isinstance(exc, _TransientAnswer) else _connection_fault(exc)

    _install_sdk_timeout_hook()

    def one(until: float, method: str, path: str, *args: Any, **kwargs: Any):
        _sdk_timeout.value = policy.attempt_timeout(until)
        try:
            response = request(method, path, *args, **kwargs)
        finally:
            _sdk_timeout.value = None
        fault = _status_fault(response.status_code, response.headers, scaleway_message(response)
                              if response.status_code >= 400 else "", policy.now)
        if fault is not None:
            raise _TransientAnswer(fault)
        return response

    def retried_request(method: str, path: str, *args: Any, **kwargs: Any):
        until = deadline() if callable(deadline) else deadline
        return policy.call(f"Scaleway API {method.upper()} {path}", lambda: one(until, method, path, *args, **kwargs),
                           deadline=until, transient=transient)

    def throw_on_error(response) -> None:
        if response.status_code is not None and response.status_code >= 400:
            raise error_type(response)

    api._request = retried_request
    api._throw_on_error = throw_on_error
    return api


# -- Kubernetes (official `kubernetes` client) ------------------------------------------------------------------------
def kubernetes_fault(exc: BaseException, *, now: Callable[[], float] = time.time,
                     retry_429: bool = True) -> Optional[Fault]:
    """A transient Kubernetes API failure, or None. `retry_429=False` leaves a 429 to the caller (an eviction's 429
    is a PodDisruptionBudget saying "not now", which the drain loop handles itself)."""
    from kubernetes.client.rest import ApiException

    if isinstance(exc, ApiException):
        if exc.status == 429 and not retry_429:
            return None
        return _status_fault(exc.status or None, exc.headers, exc.reason or "", now)
    return _connection_fault(exc)


def retrying_kubernetes(policy: RetryPolicy, deadline: float, *, retry_429: bool = True):
    """A caller `call(what, fn, *args, **kwargs)` for the Kubernetes client: fn(*args, **kwargs) with the policy's
    retries until `deadline`, each attempt bounded by `_request_timeout` (the client waits forever otherwise;
    client/rest.py turns a (connect, read) tuple into urllib3.Timeout)."""

    def call(what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        def attempt() -> T:
            return fn(*args, _request_timeout=policy.attempt_timeout(deadline), **kwargs)

        return policy.call(what, attempt, deadline=deadline,
                           transient=lambda exc: kubernetes_fault(exc, now=policy.now, retry_429=retry_429))

    return call
