"""components/retry.py with an injected clock: which faults are retried, how long it waits, and that it never waits
past the deadline. The real clients against faulting stand-ins are in test_retry_faults.py."""

from __future__ import annotations

import email.utils

import pytest
import requests
import urllib3

from components.retry import (
    Fault,
    RetryExhausted,
    RetryPolicy,
    kubernetes_fault,
    parse_retry_after,
    urllib_fault,
)


class FakeTime:
    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def policy(t: FakeTime, random=lambda: 1.0, **kw) -> RetryPolicy:
    # random() -> 1.0 makes the jittered wait its ceiling, so waits are exact; jitter bounds are tested apart.
    return RetryPolicy(clock=t.clock, sleep=t.sleep, random=random, now=lambda: 1_700_000_000.0, log=lambda _: None,
                       **kw)


class Transient(Exception):
    def __init__(self, retry_after=None):
        self.retry_after = retry_after


def classify(exc):
    return Fault("HTTP 503 busy", exc.retry_after) if isinstance(exc, Transient) else None


def flaky(failures: list):
    """fn failing with each exception of `failures` in turn, then returning 'ok'; counts its calls."""
    calls = []

    def fn():
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    fn.calls = calls
    return fn


def test_retries_until_success_with_capped_exponential_backoff():
    t = FakeTime()
    fn = flaky([Transient() for _ in range(7)])
    assert policy(t, base=0.5, cap=5.0).call("GET /x", fn, deadline=t.now + 100, transient=classify) == "ok"
    assert len(fn.calls) == 8
    assert t.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0]


def test_full_jitter_stays_within_zero_and_the_ceiling():
    values = iter([0.0, 0.25, 0.999])
    t = FakeTime()
    fn = flaky([Transient(), Transient(), Transient()])
    policy(t, random=lambda: next(values), base=1.0, cap=30.0).call("GET /x", fn, deadline=t.now + 100,
                                                                    transient=classify)
    assert t.sleeps == [0.0, 0.5, pytest.approx(3.996)]
    p = RetryPolicy(base=1.0, cap=8.0)  # the real random
    for attempt in range(1, 12):
        for _ in range(50):
            assert 0.0 <= p.delay(attempt) <= min(8.0, 2 ** (attempt - 1))


def test_retry_after_is_a_floor_under_the_jitter():
    t = FakeTime()
    fn = flaky([Transient(retry_after=7.0), Transient(retry_after=0.0)])
    policy(t, random=lambda: 0.0).call("GET /x", fn, deadline=t.now + 100, transient=classify)
    assert t.sleeps == [7.0, 0.0]


def test_never_sleeps_past_the_deadline_and_the_error_names_call_attempts_and_last_fault():
    t = FakeTime()
    start = t.now
    fn = flaky([Transient() for _ in range(100)])
    with pytest.raises(RetryExhausted) as caught:
        policy(t, base=1.0, cap=4.0).call("Scaleway API GET /k8s/v1/regions/fr-par/nodes/n1", fn,
                                          deadline=start + 10, transient=classify)
    # waits 1, 2, 4 (t=7); the next 4 would end at 11 > 10: stop after the 4th attempt, without sleeping.
    assert t.sleeps == [1.0, 2.0, 4.0] and t.now == start + 7
    err = caught.value
    assert (err.call, err.attempts, err.last) == ("Scaleway API GET /k8s/v1/regions/fr-par/nodes/n1", 4, "HTTP 503 busy")
    assert "GET /k8s/v1/regions/fr-par/nodes/n1: gave up after 4 attempts" in str(err)
    assert isinstance(err.__cause__, Transient)


def test_a_retry_after_beyond_the_deadline_fails_at_once():
    t = FakeTime()
    fn = flaky([Transient(retry_after=3600.0)])
    with pytest.raises(RetryExhausted, match="after 1 attempt in"):
        policy(t).call("GET /x", fn, deadline=t.now + 60, transient=classify)
    assert t.sleeps == [] and len(fn.calls) == 1


def test_permanent_errors_are_raised_at_once():
    t = FakeTime()
    fn = flaky([ValueError("400 bad")])
    with pytest.raises(ValueError, match="400 bad"):
        policy(t).call("GET /x", fn, deadline=t.now + 60, transient=classify)
    assert t.sleeps == [] and len(fn.calls) == 1


def test_retry_after_in_seconds_or_as_an_http_date():
    now = 1_700_000_000.0
    assert parse_retry_after("3", lambda: now) == 3.0
    assert parse_retry_after(" 120 ", lambda: now) == 120.0
    assert parse_retry_after(email.utils.formatdate(now + 42, usegmt=True), lambda: now) == pytest.approx(42.0)
    assert parse_retry_after(email.utils.formatdate(now - 42, usegmt=True), lambda: now) == 0.0  # already past
    for bad in (None, "", "soon", "-1", "1.5e3"):
        assert parse_retry_after(bad, lambda: now) is None


def test_connection_failures_are_transient_tls_failures_are_not():
    from components.retry import _connection_fault

    assert _connection_fault(requests.exceptions.ConnectionError("Connection aborted.")) is not None
    assert _connection_fault(requests.exceptions.ReadTimeout("read timed out")) is not None
    assert _connection_fault(requests.exceptions.ConnectTimeout("connect timed out")) is not None
    assert _connection_fault(urllib3.exceptions.ProtocolError("Connection aborted.")) is not None
    assert _connection_fault(urllib3.exceptions.MaxRetryError(None, "/x", urllib3.exceptions.NewConnectionError(
        None, "refused"))) is not None
    assert _connection_fault(requests.exceptions.SSLError("certificate verify failed")) is None
    assert _connection_fault(urllib3.exceptions.MaxRetryError(None, "/x", urllib3.exceptions.SSLError("bad"))) is None
    assert _connection_fault(ValueError("x")) is None


def test_kubernetes_statuses():
    from kubernetes.client.rest import ApiException

    def api_exc(status, headers=None):
        exc = ApiException(status=status, reason="r")
        exc.headers = headers
        return exc

    now = lambda: 1_700_000_000.0  # noqa: E731
    assert kubernetes_fault(api_exc(429, {"Retry-After": "1"}), now=now) == Fault("HTTP 429 r", 1.0)
    assert kubernetes_fault(api_exc(503), now=now) == Fault("HTTP 503 r", None)
    assert kubernetes_fault(api_exc(500), now=now) is not None
    for permanent in (400, 401, 403, 404, 409, 422):
        assert kubernetes_fault(api_exc(permanent), now=now) is None
    assert kubernetes_fault(api_exc(0), now=now) is None  # the client's SSLError
    assert kubernetes_fault(api_exc(429), now=now, retry_429=False) is None  # an eviction's budget
    assert kubernetes_fault(api_exc(503), now=now, retry_429=False) is not None


def test_http_fault_reads_the_status_and_retry_after_of_an_answer():
    from components.retry import http_fault

    def answered(status, headers=None, body=b'{"message": "m", "type": "t"}'):
        response = requests.models.Response()
        response.status_code, response._content = status, body
        response.headers.update(headers or {})
        return requests.HTTPError(response=response)

    now = lambda: 1_700_000_000.0  # noqa: E731
    assert http_fault(answered(429, {"Retry-After": "2"}), now=now) == Fault("HTTP 429 m (type: t)", 2.0)
    assert http_fault(answered(502, body=b"<html>bad gateway</html>"), now=now) == Fault("HTTP 502 <html>bad gateway</html>")
    assert http_fault(answered(403), now=now) is None and http_fault(answered(404), now=now) is None
    assert http_fault(requests.exceptions.ConnectionError("reset"), now=now) is not None


def test_each_attempt_is_bounded_and_never_outlives_the_deadline():
    t = FakeTime()
    p = policy(t)
    assert p.attempt_timeout(t.now + 1000) == (10.0, 60.0)
    assert p.attempt_timeout(t.now + 5) == (5.0, 5.0)
    assert p.attempt_timeout(t.now - 1) == (0.1, 0.1)  # past it: the shortest try, then the policy gives up


def test_urllib_faults_of_the_metadata_get():
    import email.message
    import socket
    import ssl
    import urllib.error

    def answer(status: int, retry_after: str | None = None) -> urllib.error.HTTPError:
        headers = email.message.Message()
        if retry_after is not None:
            headers["Retry-After"] = retry_after
        return urllib.error.HTTPError("https://x/node-metadata", status, "Reason", headers, None)

    assert urllib_fault(answer(429, "4")) == Fault("HTTP 429 Reason", 4.0)
    assert urllib_fault(answer(503)) == Fault("HTTP 503 Reason", None)
    assert urllib_fault(answer(401)) is None and urllib_fault(answer(403)) is None and urllib_fault(answer(404)) is None
    for no_answer in (urllib.error.URLError(ConnectionRefusedError(111, "refused")), ConnectionResetError(),
                      socket.timeout("timed out"), TimeoutError()):
        assert urllib_fault(no_answer).last.startswith("no answer ("), no_answer
    assert urllib_fault(urllib.error.URLError(ssl.SSLCertVerificationError("bad certificate"))) is None
    assert urllib_fault(ValueError("not JSON")) is None
