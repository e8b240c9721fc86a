"""The CrossGuard pack's validators, called with real ResourceValidationArgs / StackValidationArgs built from the
resources the mock engine recorded for each stack (the PolicyPack itself is never constructed: it starts a server)."""

from __future__ import annotations

import ast
import copy
import dataclasses
import sys

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)

from conftest import REPO, STACKS, run_config, stack_config

sys.path.insert(0, str(REPO / "policy"))
import kosmos_policies as kp  # noqa: E402

BY_NAME = {p.name: p for p in kp.POLICIES}


def _opts(reg) -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=reg.protect, ignore_changes=[], delete_before_replace=reg.delete_before_replace, aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=list(reg.additional_secret_outputs),
        parent=reg.parent,
    )


def resource_args(reg, config=None, props=None) -> ResourceValidationArgs:
    # Analyzers see inputs with secrets unwrapped: use the raw inputs, as the engine sends them.
    return ResourceValidationArgs(reg.type, props if props is not None else reg.raw_inputs, reg.urn, reg.name,
                                  _opts(reg), None, config or {})


def stack_args(run, mutate=None) -> StackValidationArgs:
    resources = []
    for reg in run.custom():
        props = copy.deepcopy(reg.raw_inputs)
        if mutate:
            mutate(reg, props)
        resources.append(PolicyResource(reg.type, props, reg.urn, reg.name, _opts(reg), None, None, [], {}))
    return StackValidationArgs(resources, {})


def violations(policy_name, run, config=None, mutate=None) -> list[str]:
    policy = BY_NAME[policy_name]
    found: list[str] = []
    report = lambda message, urn=None: found.append(message)  # noqa: E731
    if isinstance(policy, ResourceValidationPolicy):
        for reg in run.custom():
            props = copy.deepcopy(reg.raw_inputs)
            opts_reg = reg
            if mutate:
                opts_reg = mutate(reg, props) or reg
            policy.validate(resource_args(opts_reg, config, props), report)
    else:
        policy.validate(stack_args(run, mutate), report)
    return found


MANDATORY = [p.name for p in kp.POLICIES if p.enforcement_level == EnforcementLevel.MANDATORY]
ADVISORY = [p.name for p in kp.POLICIES if p.enforcement_level == EnforcementLevel.ADVISORY]


def test_pack_has_the_required_policies():
    assert set(MANDATORY) == {
        "kosmos-cluster-multicloud-kilo", "kosmos-machine-memory", "kosmos-no-node-register-key",
        "kosmos-node-credentials-secret", "kosmos-join-userdata-secret", "kosmos-civo-ssh-not-public",
    }
    assert set(ADVISORY) == {"kosmos-equinix-metal-shut-down", "kosmos-pools-cloud-label",
                             "kosmos-onprem-host-key-pinned", "kosmos-cluster-version-supported"}
    main = ast.parse((REPO / "policy" / "__main__.py").read_text())
    calls = [n for n in ast.walk(main) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "PolicyPack"]
    assert len(calls) == 1 and {k.arg for k in calls[0].keywords} >= {"name", "policies"}


@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("policy", MANDATORY)
def test_every_stack_passes_every_mandatory_policy(stack_run, stack, policy):
    assert violations(policy, stack_run(stack)) == []


def test_advisories_on_the_shipped_stacks(stack_run):
    blog = violations("kosmos-equinix-metal-shut-down", stack_run("blog"))
    assert len(blog) == 2 and all("shut down on 2026-06-30" in v for v in blog)
    assert violations("kosmos-equinix-metal-shut-down", stack_run("baremetal")) == []
    for stack in STACKS:
        assert violations("kosmos-pools-cloud-label", stack_run(stack)) == []
        assert violations("kosmos-onprem-host-key-pinned", stack_run(stack)) == []


def _set_prop(type_, key, value, only_first=False):
    done = []

    def mutate(reg, props):
        if reg.type == type_ and not (only_first and done):
            props[key] = value
            done.append(reg.name)

    return mutate


def test_broken_cluster_cni_and_type(stack_run):
    run = stack_run("dev")
    assert violations("kosmos-cluster-multicloud-kilo", run, mutate=_set_prop(kp.CLUSTER, "cni", "cilium")) == [
        "A multicloud cluster must use CNI 'kilo'; got 'cilium'."
    ]
    [v] = violations("kosmos-cluster-multicloud-kilo", run, mutate=_set_prop(kp.CLUSTER, "type", "kapsule"))
    assert v.startswith("Kosmos cluster type must be one of multicloud") and v.endswith("got 'kapsule'.")


def test_broken_memory(stack_run):
    run = stack_run("blog")
    found = violations("kosmos-machine-memory", run, mutate=_set_prop(kp.CIVO_INSTANCE, "size", "g3.xsmall", True))
    assert found == ["Civo size 'g3.xsmall' has 1024 MiB of RAM; a Kosmos node needs at least 2048 MiB."]
    found = violations("kosmos-machine-memory", stack_run("dev"), mutate=_set_prop(kp.POOL, "nodeType", "DEV1-S"))
    assert found == ["Scaleway node type 'DEV1-S' has too little memory for a Kubernetes node."]


def test_a_key_that_can_register_nodes_is_refused(stack_run):
    run = stack_run("blog")
    policies = [r for r in run.custom() if r.type == kp.IAM_POLICY]
    assert policies == []  # kosmos makes none: it registers every node itself
    found: list[str] = []
    props = {"name": "my-join", "rules": [{"permissionSetNames": ["KubernetesExternalNodeRegister"],
                                           "projectIds": ["p"]}]}
    opts = PolicyResourceOptions(protect=False, ignore_changes=[], delete_before_replace=False, aliases=[],
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent="")
    BY_NAME["kosmos-no-node-register-key"].validate(
        ResourceValidationArgs(kp.IAM_POLICY, props, "urn:p", "my-join", opts, None, {}), found.append)
    assert found == ["This IAM policy grants KubernetesExternalNodeRegister: kosmos needs no join key (each machine "
                     "gets only its own node's credentials), and a key that can register nodes must not reach a "
                     "machine."]


def test_node_credentials_must_be_secret_outputs(stack_run):
    run = stack_run("blog")

    def reveal(reg, props):
        if reg.type == kp.NODE_IDENTITY:
            return dataclasses.replace(reg, additional_secret_outputs=["metadata_url"])

    found = violations("kosmos-node-credentials-secret", run, mutate=reveal)
    assert found == ["The node identity's node_secret_key must be secret outputs (additional_secret_outputs)."] * 6


@pytest.mark.parametrize("stack, machine_type, prop", [
    ("blog", kp.CIVO_INSTANCE, "script"),
    ("blog", kp.EQUINIX_DEVICE, "userData"),
    ("baremetal", kp.EM_SERVER, "cloudInit"),
    ("blog", kp.REMOTE_COMMAND, "stdin"),
])
def test_broken_userdata_secrecy(stack_run, stack, machine_type, prop):
    run = stack_run(stack)

    def drop_secret(reg, props):
        if reg.type == machine_type:
            return _without_aso(reg)

    found = violations("kosmos-join-userdata-secret", run, mutate=drop_secret)
    assert found and set(found) == {
        f"{prop!r} carries a node's credentials: it must be a secret (additional_secret_outputs does not list it)."
    }
    assert len(found) == len(run.by_type(machine_type))


def _without_aso(reg):
    import dataclasses

    return dataclasses.replace(reg, additional_secret_outputs=[])


def test_broken_civo_firewall_ssh(stack_run):
    run = stack_run("blog")

    def open_ssh(reg, props):
        if reg.type == kp.CIVO_FIREWALL:
            props["ingressRules"].append({"protocol": "tcp", "portRange": "22", "cidrs": ["0.0.0.0/0"]})

    found = violations("kosmos-civo-ssh-not-public", run, mutate=open_ssh)
    assert len(found) == 2 and found[0].startswith("Civo firewall opens SSH (22) to 0.0.0.0/0")
    assert violations("kosmos-civo-ssh-not-public", run, config={"allowPublicSsh": True}, mutate=open_ssh) == []

    def open_range(reg, props):
        if reg.type == kp.CIVO_FIREWALL:
            props["ingressRules"].append({"protocol": "tcp", "portRange": "1-1024", "cidrs": ["0.0.0.0/0"]})

    assert len(violations("kosmos-civo-ssh-not-public", run, mutate=open_range)) == 2


def test_broken_cloud_label(stack_run):
    def unlabel(reg, props):
        if reg.type == kp.POOL:
            props["labels"].pop("cloud")

    assert violations("kosmos-pools-cloud-label", stack_run("dev"), mutate=unlabel) == [
        "Pool has no 'cloud' label; kosmos labels every node with its cloud."
    ]


def test_an_unpinned_onprem_host_is_reported():
    # Through the real program: the explicit opt-out reaches the Command without a hostKey, and the pack says so.
    raw = stack_config("blog")
    host = raw["kosmos:externalPools"][4]["hosts"][0]
    del host["hostKey"]
    host["insecureSkipHostKeyCheck"] = True
    run = run_config(raw, stack="blog", raise_errors=True)
    [command] = run.by_type(kp.REMOTE_COMMAND)
    assert "hostKey" not in command.raw_inputs["connection"]
    assert violations("kosmos-onprem-host-key-pinned", run) == [
        "SSH host key of '192.168.64.5' is not pinned (insecureSkipHostKeyCheck): the node's credentials go to "
        "whichever machine answers on that address. Set hostKey (README: pinning the SSH host key)."
    ]
    assert any("insecureSkipHostKeyCheck is true" in w for w in run.warnings)


def test_the_cluster_version_advisory_is_dated_by_its_config(stack_run):
    run = stack_run("blog")  # 1.35.3: supported on 2026-12-03, end of life 2027-03-19
    assert violations("kosmos-cluster-version-supported", run, config={"today": "2026-12-03"}) == []
    [soon] = violations("kosmos-cluster-version-supported", run, config={"today": "2027-02-20"})
    assert soon.startswith('kosmos:cluster.version: "1.35.3" reaches its end of life on 2027-03-19 (in 27 days)')
    assert "1.36 (patch 1.36.1, end of life 2027-09-07)" in soon
    old = violations("kosmos-cluster-version-supported", run, config={"today": "2026-12-03"},
                     mutate=_set_prop(kp.CLUSTER, "version", "1.34"))
    assert len(old) == 1 and "reached its end of life on 2026-11-29" in old[0]
    assert "supported: 1.35 (patch 1.35.3, end of life 2027-03-19), 1.36" in old[0]


def test_the_cluster_version_advisory_skips_a_version_unknown_at_preview(stack_run):
    # The analyzer wraps props so that reading an unknown value raises UnknownValueError (pulumi_policy proxy.py,
    # unknown_checking_proxy); the policy must skip it, not fail on a name it never imported.
    from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

    [cluster] = stack_run("blog").by_type(kp.CLUSTER)
    props = unknown_checking_proxy({**copy.deepcopy(cluster.raw_inputs), "version": UNKNOWN_STRING_VALUE})
    found = []
    BY_NAME["kosmos-cluster-version-supported"].validate(resource_args(cluster, {"today": "2027-03-18"}, props),
                                                         lambda message, urn=None: found.append(message))
    assert found == []
