"""`make diff` of an upgrade (tools/diff.py on two offline plans, in process): moving kosmos:cluster.version rolls
every external machine: boot-time machines replaced, on-prem hosts re-joined in place, in order; skipping a minor or
going down is warned; maxSurge smaller than the replacements is warned."""

from __future__ import annotations

import json

import pytest

from tools import diff
from tools.engine import load_stack_config, run_program
from tools.plan import snapshot

KEY = b"k" * 32


def plan(stack: str, version: str | None = None, upgrade: dict | None = None, extra_hosts: int = 0) -> dict:
    """An offline plan of `stack` at `version`, with per-provider `upgrade` settings and `extra_hosts` more on-prem
    hosts (copies of the first, named h1, h2, ...)."""
    config, secret_keys = load_stack_config(stack)
    cluster = json.loads(config["kosmos:cluster"])
    if version:
        cluster["version"] = version
    config["kosmos:cluster"] = json.dumps(cluster)
    if upgrade:
        pools = json.loads(config["kosmos:externalPools"])
        for pool in pools:
            pool["upgrade"] = upgrade.get(pool["provider"], {})
        config["kosmos:externalPools"] = json.dumps(pools)
    if extra_hosts:
        pools = json.loads(config["kosmos:externalPools"])
        for pool in pools:
            if pool["provider"] == "on-prem":
                first = pool["hosts"][0]
                pool["hosts"] += [{**first, "name": f"h{i}", "address": f"192.0.2.{i}"} for i in range(1, extra_hosts + 1)]
        config["kosmos:externalPools"] = json.dumps(pools)
    return snapshot(run_program(stack, config=config, secret_keys=secret_keys), KEY, config)


@pytest.fixture(scope="module")
def base():
    return plan("baremetal")


@pytest.fixture(scope="module")
def upgraded():
    return plan("baremetal", "1.36.1", {"civo": {"maxSurge": 1}})


def test_a_version_move_replaces_every_boot_time_machine_and_rejoins_on_prem_hosts(base, upgraded):
    d = diff.compare(base, upgraded)
    machines = [s for s in d.steps if s.type in ("civo:index/instance:Instance", "scaleway:elasticmetal/server:Server")]
    assert machines and all(s.op == diff.REPLACE for s in machines)
    # Each machine follows its node identity, replaced because the redacted join (its version) is in its generation.
    assert all(any(r.startswith("replacementTrigger: its node identity ") and r.endswith(" is replaced (a new node)")
                   for r in s.reasons) for s in machines)
    [command] = [s for s in d.steps if s.type == "command:remote:Command"]
    assert command.op == diff.UPDATE  # in place: the host is kept
    assert d.upgrade[0] == ("Kubernetes 1.35.3 → 1.36.1: the control plane and the Scaleway pools first (every "
                            "external machine's join depends on the pool), then the external pools below")
    assert ("pool home: hosts re-join in place (cordon, drain, re-run the agent, Ready on the new version, "
            "uncordon), 1 at a time: [mac-vm]") in d.upgrade
    # The gates roll (an update: a generation move), never replace; the host keeps its identity.
    gates = [s for s in d.steps if s.type.endswith("kosmos:RolloutGate")]
    assert len(gates) == 2 and all(s.op == diff.UPDATE for s in gates)
    assert not [s for s in d.steps if s.type.endswith("kosmos:NodeIdentity") and "home" in s.name]
    civo = next(n for n in d.upgrade if n.startswith("pool civo-lon1:"))
    assert civo.startswith("pool civo-lon1: 2 machine(s) replaced create-before-delete, all at once: "
                           "kosmos-civo-lon1-nodes-0, kosmos-civo-lon1-nodes-1;")
    # civo-lon1 replaces 2 machines with maxSurge 1; civo-nyc1 replaces 1: within.
    assert [w for w in d.warnings if "maxSurge" in w] == [
        "pool civo-lon1: this update replaces 2 machines, more than upgrade.maxSurge 1: one `pulumi up` creates every "
        "replacement and deletes the old machines only at its end (README, Upgrading: apply in steps)"
    ]
    text = diff.render_text(d)
    assert "\nUpgrade:\n  Kubernetes 1.35.3 → 1.36.1" in text
    assert "**Upgrade**" in diff.render_markdown(d)
    # The version reaches the join userdata shown to reviewers.
    assert "-KUBERNETES_VERSION=1.35.3\n+KUBERNETES_VERSION=1.36.1" in d.userdata["home"]


def test_skipping_a_minor_and_going_down_are_warned(base):
    skip = diff.compare(plan("baremetal", "1.34.6"), plan("baremetal", "1.36.1"))
    assert any(w.startswith("kosmos:cluster.version 1.34.6 → 1.36.1 skips 1 minor version(s): Scaleway upgrades a "
                            "cluster one minor at a time") and w.endswith("go to 1.35 first") for w in skip.warnings)
    down = diff.compare(base, plan("baremetal", "1.34.6"))
    assert any("1.35.3 → 1.34.6 goes down" in w for w in down.warnings)
    one = diff.compare(base, plan("baremetal", "1.36.1"))
    assert not [w for w in one.warnings if "minor" in w or "goes down" in w]


def test_rollout_order_follows_max_unavailable():
    from components.rollout import waves

    assert " → ".join("[" + ", ".join(w) + "]" for w in waves(["a", "b", "c"], 2)) == "[a, b] → [c]"


def test_the_on_prem_order_is_read_from_the_wired_gates():
    # Three hosts, maxUnavailable 2: the order and the batch size come from the gates' chain and the tail gate.
    d = diff.compare(plan("baremetal", extra_hosts=2, upgrade={"on-prem": {"maxUnavailable": 2}}),
                     plan("baremetal", "1.36.1", extra_hosts=2, upgrade={"on-prem": {"maxUnavailable": 2}}))
    assert ("pool home: hosts re-join in place (cordon, drain, re-run the agent, Ready on the new version, "
            "uncordon), 2 at a time: [mac-vm, h1] → [h2]") in d.upgrade
