"""Fixtures and helpers shared by the tests of the Scaleway-facing providers (tests/test_pool_nodes.py,
tests/test_retry_faults.py): the local Kosmos and Kubernetes API stand-ins on loopback, providers configured as
Pulumi's dynamic provider host configures them, and their inputs as the program builds them. A helper module, not a
test module: tests import from here, never from each other."""

from __future__ import annotations

import os

import pytest
import yaml
from pulumi.dynamic import Config, ConfigureRequest

from components.identity import NodeIdentityProvider
from kosmos_api import LocalKosmos
from kube_api import Cluster, KubeApi, kubeconfig

REGION = "fr-par"
ACCESS_KEY = "SCWABCDEFGHIJKLMNOPQ"
OPERATOR_SECRET = "44444444-4444-4444-8444-444444444444"


@pytest.fixture
def kube_api():
    with KubeApi(tls=True) as api:
        yield api


@pytest.fixture
def kube(kube_api) -> Cluster:
    return kube_api.cluster


@pytest.fixture
def kosmos(kube_api):
    config = yaml.safe_dump(kubeconfig(kube_api.url))
    with LocalKosmos(operator_secret=OPERATOR_SECRET, kubeconfig=config, delete_seconds=0.6, ready_seconds=0.0) as k:
        k.pool = k.add_pool("civo-lon1", size=3)  # no join key: only kosmos registers
        yield k


@pytest.fixture(autouse=True)
def no_scw_environment(monkeypatch, tmp_path):
    for name in list(os.environ):
        if name.startswith("SCW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/scw either


def configured(cls, clock=None, sleep=None, **config):
    provider = cls(clock=clock, sleep=sleep)
    raw = {"scaleway:accessKey": ACCESS_KEY, "scaleway:secretKey": OPERATOR_SECRET, **config}
    provider.configure(ConfigureRequest(config=Config(raw_config=raw, project_name="kosmos")))
    return provider


def configure_host(host, kosmos) -> None:
    """Configure a dynamic provider host (tests/pulumi_host.py) as the engine does: the whole stack config."""
    from pulumi.runtime import proto

    from pulumi_host import struct

    host.Configure(proto.ConfigureRequest(args=struct(
        {"scaleway:accessKey": ACCESS_KEY, "scaleway:secretKey": OPERATOR_SECRET, "scaleway:apiUrl": kosmos.url,
         "kosmos:cluster": "{}"})), timeout=30)


def identity_props(kosmos, machine="civo-lon1-0", **overrides) -> dict:
    return {"region": REGION, "pool_id": f"{REGION}/{kosmos.pool.id}", "pool_name": "civo-lon1", "machine": machine,
            "generation": "abc123", "api_url": kosmos.url, "timeout_seconds": 10, "poll_seconds": 0.05,
            **overrides}


def identity(kosmos, machine="civo-lon1-0", boot=True, kube: Cluster | None = None) -> dict:
    """A NodeIdentity created as the program creates it; `boot`: its machine came up (kubelet reached the cluster)."""
    outs = configured(NodeIdentityProvider).create(identity_props(kosmos, machine)).outs
    if boot:
        kosmos.boot(outs["node_id"])
        if kube is not None:
            kube.add_node(outs["node_name"])
    return outs


def member(outs: dict) -> dict:
    return {"machine": outs["machine"], "node_id": outs["node_id"], "node_name": outs["node_name"]}


def pool_props(kosmos, members, **overrides) -> dict:
    return {"cluster_id": f"{REGION}/{kosmos.cluster_id}", "region": REGION, "pool_id": f"{REGION}/{kosmos.pool.id}",
            "pool_name": "civo-lon1", "members": [member(m) for m in members], "wait": True, "timeout_seconds": 20,
            "poll_seconds": 0.05, "skip_drain": False, "api_url": kosmos.url, **overrides}


def lists(kosmos) -> int:
    """Polling rounds so far: lists of the pool's nodes that start at page 1 (SDK list_nodes_all)."""
    with kosmos.lock:
        return sum(1 for m, p, q in kosmos.requests if m == "GET" and p.endswith("/nodes") and q.get("page") == "1")


