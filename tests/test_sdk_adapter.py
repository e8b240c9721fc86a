"""tools/sdk.py is the one module that reaches into the Pulumi SDK's internals, written against the pinned SDK."""

from __future__ import annotations

import importlib.metadata
import pathlib
import re

from tools import sdk

REPO = pathlib.Path(__file__).resolve().parent.parent
# Modules of the SDK that are not its public API (pulumi.runtime's public names, Mocks and set_mocks, are fine), and
# a private method of Scaleway's SDK.
PRIVATE = re.compile(
    r"pulumi\.runtime\.(config|rpc|settings|mocks|stack|sync_await|known_types)\b"
    r"|from pulumi\.runtime import (config|rpc|settings)\b"
    r"|pulumi\.dynamic\.dynamic\b"
    r"|\._get_cluster_kube_config\b"
)
# The components ship without tools/ (the kosmos wheel): their dynamic providers' one adapter is scaleway_api.py
# (provider serialisation, the engine's unknown value, the kubeconfig method of Scaleway's SDK).
RUNTIME_ADAPTER = "components/scaleway_api.py"


def test_the_installed_sdk_is_the_one_the_adapter_is_written_for():
    pinned = re.search(r"^pulumi==(\S+)$", (REPO / "constraints.txt").read_text(), re.M)
    assert pinned and pinned[1] == sdk.PINNED_SDK == importlib.metadata.version("pulumi")


def test_the_sdk_internals_the_adapter_uses_are_there():
    from pulumi.runtime.stack import Stack

    # finish_stack re-arms and calls the stack's one-shot output registration.
    assert callable(Stack._finish)
    assert "_outputs_registered" in Stack.__init__.__code__.co_names
    for name in sdk.__all__:
        assert hasattr(sdk, name), name


def test_config_round_trips_through_the_adapter():
    try:
        sdk.set_config({"kosmos:a": "1", "kosmos:b": "x"}, ["kosmos:b"])
        assert {"kosmos:a", "kosmos:b"} <= sdk.config_keys()
        assert sdk.config_value("kosmos:a") == "1" and sdk.is_secret_key("kosmos:b")
        assert not sdk.is_secret_key("kosmos:a")
    finally:
        sdk.set_config({}, [])


def test_no_other_module_touches_sdk_internals():
    offenders = []
    paths = [REPO / "__main__.py"] + [p for d in ("components", "tools", "policy", "provider")
                                      for p in (REPO / d).rglob("*.py")]
    for path in paths:
        rel = path.relative_to(REPO).as_posix()
        if rel in ("tools/sdk.py", RUNTIME_ADAPTER):
            continue
        offenders += [f"{rel}: {line.strip()}" for line in path.read_text().splitlines() if PRIVATE.search(line)]
    assert offenders == []
