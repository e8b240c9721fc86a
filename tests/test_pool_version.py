"""PoolVersionProvider (components/pool_version.py) against the local Kosmos: it waits until the external pool
runs the declared version (Scaleway moves it after the cluster, unwaited by the provider on multicloud clusters)."""

from __future__ import annotations

import threading

import pytest
from pulumi.dynamic import Config, ConfigureRequest

from components.pool_version import PoolVersionError, PoolVersionProvider
from kosmos_api import LocalKosmos

OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"


@pytest.fixture
def kosmos():
    with LocalKosmos(operator_secret=OPERATOR_SECRET) as k:
        k.pool = k.add_pool("home", "55555555-5555-4555-8555-555555555555")
        k.pool.version = "1.35.3"
        yield k


def provider() -> PoolVersionProvider:
    p = PoolVersionProvider()
    raw = {"scaleway:accessKey": "SCWABCDEFGHIJKLMNOPQ", "scaleway:secretKey": OPERATOR_SECRET}
    p.configure(ConfigureRequest(config=Config(raw_config=raw, project_name="kosmos")))
    return p


def props(kosmos, version, **extra) -> dict:
    return {"pool_id": f"fr-par/{kosmos.pool.id}", "pool_name": "home", "region": "fr-par", "api_url": kosmos.url,
            "kubernetes_version": version, "timeout_seconds": 10, "poll_seconds": 0.05, **extra}


def test_create_returns_once_the_pool_runs_the_declared_minor(kosmos):
    created = provider().create(props(kosmos, "1.35"))
    assert created.outs["version"] == "1.35.3" and created.id == kosmos.pool.id


def test_update_waits_until_scaleway_moved_the_pool(kosmos):
    p = provider()
    old = p.create(props(kosmos, "1.35.3")).outs
    timer = threading.Timer(0.4, lambda: setattr(kosmos.pool, "version", "1.36.1"))
    timer.start()
    try:
        assert p.diff(kosmos.pool.id, old, props(kosmos, "1.36.1")).changes is True
        updated = p.update(kosmos.pool.id, old, props(kosmos, "1.36.1"))
    finally:
        timer.cancel()
    assert updated.outs["version"] == "1.36.1"
    polls = [path for m, path, _ in kosmos.requests if m == "GET" and path.endswith(f"/pools/{kosmos.pool.id}")]
    assert len(polls) >= 3  # it did wait: the pool was still on 1.35.3 at first


def test_a_pool_that_never_moves_fails_clearly(kosmos):
    with pytest.raises(PoolVersionError, match=r"pool 'home' \(.*\) still runs Kubernetes 1.35.3 after 0.3s, not "
                                               r"kosmos:cluster.version 1.36.1; no machine of it was touched"):
        provider().create(props(kosmos, "1.36.1", timeout_seconds=0.3))


@pytest.mark.parametrize("declared", ["1.35.3", "1.35", "1.36.0"])
def test_a_pool_already_past_the_declared_version_fails_at_once(kosmos, declared):
    # Scaleway upgraded the cluster (end of life) before the stack moved: no wait can bring the pool back down.
    kosmos.pool.version = "1.36.1"
    with pytest.raises(PoolVersionError, match=rf"runs Kubernetes 1\.36\.1, later than kosmos:cluster.version "
                                               rf"{declared}, and Scaleway never downgrades: set the version to 1\.36\.1"):
        provider().create(props(kosmos, declared, timeout_seconds=30))
    polls = [path for m, path, _ in kosmos.requests if m == "GET" and path.endswith(f"/pools/{kosmos.pool.id}")]
    assert len(polls) == 1
