"""`make plan`: the offline plan CLI, what it prints and writes, and that no secret reaches disk or stdout."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, STACKS, run_config, stack_config
from tools.engine import fake_uuid

JOIN_SECRET = fake_uuid("secret", "kosmos-join-key")
SECRET_MARKERS = (JOIN_SECRET, "mock-admin-token", "offline-plan:kosmos:sshPrivateKey")


def plan(*args, out):
    return subprocess.run([sys.executable, "-m", "tools.plan", *args, "--out", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("stack", STACKS)
def test_plan_writes_plan_summary_and_userdata_without_secrets(tmp_path, stack):
    result = plan("--stack", stack, out=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"kosmos offline plan for stack '{stack}'" in result.stdout
    assert "+ scaleway:kubernetes/cluster:Cluster kosmos-cluster-k8s" in result.stdout
    doc = json.loads((tmp_path / stack / "plan.json").read_text())
    assert doc["stack"] == stack
    for resource in doc["resources"]:
        assert {"type", "name", "parent", "inputs", "dependencies", "secretInputs"} <= set(resource)
    provider = [r for r in doc["resources"] if r["type"] == "pulumi:providers:kubernetes"][0]
    assert provider["inputs"]["kubeconfig"] == "[secret]"
    assert doc["outputs"]["kubeconfig"] == "[secret]"
    assert (tmp_path / stack / "summary.md").read_text().startswith(f"# kosmos plan: stack `{stack}`")
    everything = result.stdout + result.stderr + "".join(
        p.read_text() for p in (tmp_path / stack).rglob("*") if p.is_file()
    )
    for marker in SECRET_MARKERS:
        assert marker not in everything


def test_blog_plan_has_one_userdata_file_per_pool_and_the_summary(tmp_path):
    result = plan("--stack", "blog", out=tmp_path)
    assert result.returncode == 0
    files = sorted(str(p.relative_to(tmp_path / "blog" / "userdata")) for p in (tmp_path / "blog/userdata").rglob("*.*"))
    # One per pool, not one per machine: civo-lon1's two machines differ only by their (redacted) node credentials.
    assert files == ["civo-lon1.sh", "civo-nyc1.sh", "home.sh", "metal-arm.yaml", "metal-x86.yaml"]
    for path in (tmp_path / "blog/userdata").rglob("*.*"):
        assert "REDACTED-NODE-CREDENTIALS" in path.read_text()
    assert "civo                     LON1       2 nodes" in result.stdout
    assert "on-prem                  home       1 node\n" in result.stdout
    assert "warning: Equinix Metal was shut down on 2026-06-30" in result.stdout
    summary = (tmp_path / "blog" / "summary.md").read_text()
    assert "| civo | LON1 | amd64 | 2 |" in summary
    assert "- civo: replaces the instance" in summary
    assert "- on-prem: re-runs the join over SSH" in summary
    assert "capacity never drops" in summary


def test_plan_tree_is_stable(tmp_path):
    first = plan("--stack", "blog", out=tmp_path / "a").stdout
    second = plan("--stack", "blog", out=tmp_path / "b").stdout
    assert first.replace(str(tmp_path / "a"), "") == second.replace(str(tmp_path / "b"), "")
    assert (tmp_path / "a/blog/plan.json").read_text() == (tmp_path / "b/blog/plan.json").read_text()


def test_unknown_stack_exits_2_listing_the_known_ones(tmp_path):
    result = plan("--stack", "nope", out=tmp_path)
    assert result.returncode == 2
    assert "no stack file stacks/Pulumi.nope.yaml; known stacks: baremetal, blog, dev" in result.stderr


def test_bad_stack_file_exits_2_with_the_key_path(tmp_path):
    bad = REPO / "stacks" / "Pulumi.zz-bad-test.yaml"
    bad.write_text('config:\n  kosmos:cluster:\n    region: fr-par\n    version: "1.31"\n    cni: calico\n')
    try:
        result = plan("--stack", "zz-bad-test", out=tmp_path)
    finally:
        bad.unlink()
    assert result.returncode == 2
    assert 'kosmos:cluster.cni: "calico" is not allowed; a multicloud (Kosmos) cluster only runs the kilo CNI' in (
        result.stderr
    )
    assert not (tmp_path / "zz-bad-test").exists()


def test_plain_http_mirror_without_pins_is_refused_before_planning():
    # Was a warning; an unpinned http mirror is now a config error (tests/test_config_errors.py has the message).
    raw = stack_config("dev")
    raw["kosmos:join"] = {"agentBaseUrl": "http://mirror.lan/agents"}
    run = run_config(raw)
    assert any(p.startswith("kosmos:join.agentBaseUrl: ") for p in run.error.problems) and run.registrations == []


def test_make_plan_runs_the_default_stack():
    result = subprocess.run(["make", "plan"], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    # The default is a multicloud stack (Scaleway pools plus external pools), not the Scaleway-only dev.
    assert "kosmos offline plan for stack 'baremetal'" in result.stdout
    assert (REPO / "build" / "baremetal" / "plan.json").exists()


def test_plan_removes_stale_files_from_an_earlier_plan(tmp_path):
    stale = tmp_path / "blog" / "userdata" / "civo-lon1" / "civo-lon1-9.sh"  # e.g. an older plan's per-machine file
    stale.parent.mkdir(parents=True)
    stale.write_text("old")
    (tmp_path / "blog" / "userdata" / "gone-pool").mkdir()
    (tmp_path / "blog" / "diff.md").write_text("old diff")
    other = tmp_path / "dev" / "plan.json"  # another stack's plan stays
    other.parent.mkdir()
    other.write_text("{}")
    assert plan("--stack", "blog", out=tmp_path).returncode == 0
    assert not stale.exists() and not (tmp_path / "blog/userdata/gone-pool").exists()
    assert not (tmp_path / "blog/diff.md").exists() and other.exists()
    assert (tmp_path / "blog/userdata/civo-lon1.sh").exists() and not (tmp_path / "blog/userdata/civo-lon1").exists()


def test_values_only_a_deployment_knows_are_shown_as_such(stack_run, tmp_path):
    from tools.plan import render_tree, summary_markdown, write_outputs

    run = stack_run("blog")
    written = write_outputs(run, tmp_path)
    everything = render_tree(run) + summary_markdown(run) + "".join(p.read_text() for p in written)
    # No id, address or node name the mock engine invented, not even inside the rendered script (POOL_ID).
    invented = [v for values in run.unknowns.by_urn.values() for v, (_, scoped) in values.items() if not scoped]
    assert invented and not [v for v in invented if v in everything]
    pool = next(r for r in run.registrations if r.name == "kosmos-civo-lon1-pool")
    bare_pool_uuid = fake_uuid(pool.type, pool.name)
    assert bare_pool_uuid not in everything
    assert "(known after apply)" in (tmp_path / "blog/userdata/civo-lon1.sh").read_text()
    doc = json.loads((tmp_path / "blog/plan.json").read_text())
    patch = next(r for r in doc["resources"] if r["name"] == "kosmos-civo-lon1-0-labels")
    assert patch["inputs"]["metadata"]["name"] == "(known after apply)"
    assert patch["knownAfterApply"]["metadata.name"].endswith("::kosmos-civo-lon1-nodes-0-identity")
    readiness = next(r for r in doc["resources"] if r["name"] == "kosmos-home-readiness")
    # Members are keyed by the node id kosmos registers at apply; never an address (no match_ip anywhere).
    assert readiness["inputs"]["members"] == [
        {"machine": "mac-vm", "node_id": "(known after apply)", "node_name": "(known after apply)"}]
    assert readiness["knownAfterApply"]["members[0].node_id"].endswith("::kosmos-home-nodes-mac-vm-identity")
    machine = next(r for r in doc["resources"] if r["name"] == "kosmos-civo-lon1-nodes-0")
    assert machine["replacementTrigger"] == "(known after apply)"
    assert "match_ip" not in json.dumps(doc)
    device = next(r for r in doc["resources"] if r["name"] == "kosmos-metal-x86-nodes-0")
    assert device["inputs"]["projectId"] == stack_config("blog")["kosmos:equinixProjectId"]  # config, not invented


def test_tree_is_in_dependency_order_with_wrapped_lines(stack_run):
    from tools.plan import WIDTH, render_tree

    tree = render_tree(stack_run("blog")).splitlines()
    assert all(len(line) <= WIDTH for line in tree)
    at = {line.split()[-1]: i for i, line in enumerate(tree) if line.lstrip().startswith("+ ")}
    order = ["kosmos-cluster-k8s", "kosmos-civo-lon1-pool",
             "kosmos-civo-lon1-nodes-0-identity", "kosmos-civo-lon1-nodes-0", "kosmos-civo-lon1-nodes-1",
             "kosmos-civo-lon1-readiness", "kosmos-civo-lon1-0-labels", "kosmos-civo-lon1-1-labels"]
    assert [at[name] for name in order] == sorted(at[name] for name in order)


def test_summary_states_per_pool_what_a_reviewer_pays_for(stack_run):
    from tools.plan import summary_markdown

    summary = summary_markdown(stack_run("blog"))
    assert "| pool | cloud | region | machine | OS | count | on userdata change |" in summary
    assert "| civo-lon1 | civo | LON1 | g3.medium | image ubuntu-jammy | 2 | replaces the instance" in summary
    assert "| metal-arm | equinix-metal | da | plan c3.large.arm64 | ubuntu_22_04 | 1 | replaces the device" in summary
    assert "| home | on-prem | home | existing host |" in summary and "| 1 | re-runs the join over SSH" in summary
    assert "| par | scaleway | fr-par-1 | DEV1-M | managed by Scaleway | 1 |" in summary
    baremetal = summary_markdown(stack_run("baremetal"))
    assert "| scaleway-elastic-metal |" in baremetal and "offer EM-A115X-SSD" in baremetal


def test_every_boot_time_machine_in_the_tree_says_it_is_replaced_with_its_node_identity(stack_run):
    from tools.plan import render_tree

    lines = render_tree(stack_run("blog")).splitlines()
    identities = [i for i, line in enumerate(lines) if "NodeIdentity" in line]
    assert len(identities) == 6
    for i in identities:
        assert "machine=" in lines[i + 1] and "generation=" in lines[i + 1], lines[i:i + 2]
    text = "\n".join(lines)
    assert text.count("[replaced with its node identity, node id (known after apply)]") == 5  # not on-prem
    readiness = [i for i, line in enumerate(lines) if "PoolNodes" in line]
    assert len(readiness) == 5 and all("wait=true" in lines[i + 1] for i in readiness)


def test_tree_shows_only_the_replace_on_changes_that_can_fire(stack_run):
    # pulumi-command's SDK adds replaceOnChanges `triggers[*]` to every Command; kosmos sets no triggers (the README:
    # an on-prem re-join is an in-place update), so the tree must not suggest a replacement. Elastic Metal's `os` is
    # a real one and stays.
    from tools.plan import render_tree

    run = stack_run("baremetal")
    command = next(r for r in run.registrations if r.type == "command:remote:Command")
    assert "triggers[*]" in command.replace_on_changes and "triggers" not in command.raw_inputs
    tree = render_tree(run)
    assert "triggers" not in tree
    assert tree.count("[replaceOnChanges=os]") == 2
