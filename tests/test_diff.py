"""`make diff`: two revisions of a stack compared offline, in a temporary clone of this working tree.

Each plan is a mock-engine run of a couple of seconds in its own process; the BASE plan is made once and shared, the
scenario plans run in parallel.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO
from tools import diff
from tools.engine import fake_uuid

STACK = "blog"
# What the mock engine hands out as a machine's node secret (tools/engine.py KosmosMocks: NodeIdentity).
NODE_SECRET = fake_uuid("node-secret", "kosmos-civo-lon1-nodes-0-identity")
MACHINE_TYPES = {"civo:index/instance:Instance", "equinix-metal:index/device:Device",
                 "scaleway:elasticmetal/server:Server"}
COMMAND = "command:remote:Command"
GIT = ["git", "-c", "user.name=kosmos-test", "-c", "user.email=test@kosmos.invalid", "-c", "commit.gpgsign=false"]


def _copy_tree(dst):
    """This working tree's files (tracked and untracked, not ignored): the code under test, committed or not."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def _edit_stack(root, change):
    path = root / "stacks" / f"Pulumi.{STACK}.yaml"
    doc = yaml.safe_load(path.read_text())
    change(doc["config"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _pools(config, provider):
    return [p for p in config["kosmos:externalPools"] if p["provider"] == provider]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    root = tmp_path_factory.mktemp("diff") / "kosmos"
    root.mkdir()
    _copy_tree(root)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=root, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-q", "-m", "base"], cwd=root, check=True)
    (root / ".git" / "info" / "exclude").write_text(".venv\nbuild/\n")
    (root / ".venv").symlink_to(REPO / ".venv")  # `make diff` in the clone uses this project's environment
    return root


@pytest.fixture(scope="module")
def key():
    return secrets.token_bytes(32)


@pytest.fixture(scope="module")
def scenarios(clone, key, tmp_path_factory):
    """BASE and each scenario's working tree, planned in parallel (copies of the clone's files)."""
    work = tmp_path_factory.mktemp("plans")
    trees = {}
    for name in ("more-civo-and-label", "removed-pool"):
        trees[name] = work / name
        shutil.copytree(clone, trees[name], ignore=shutil.ignore_patterns(".git", ".venv"))
    lon = {}

    def more_civo(config):
        pool = _pools(config, "civo")[0]
        lon.update(name=pool["name"], count=pool["count"])
        pool["count"] += 1
        pool["labels"] = {**pool.get("labels", {}), "team": "kosmos-diff-test"}

    removed = {}

    def remove_pool(config):
        pool = _pools(config, "civo")[-1]
        removed["name"] = pool["name"]
        config["kosmos:externalPools"].remove(pool)

    _edit_stack(trees["more-civo-and-label"], more_civo)
    _edit_stack(trees["removed-pool"], remove_pool)
    running = {"base": diff.start_plan(clone, STACK, key, work, "")}
    running.update({name: diff.start_plan(tree, STACK, key, work, "") for name, tree in trees.items()})
    plans = {name: diff.finish_plan(*proc, name) for name, proc in running.items()}
    return plans, lon, removed


def _ops(d):
    return {(s.op, s.name) for s in d.steps}


def test_one_civo_machine_more_and_a_changed_pool_label(scenarios):
    plans, lon, _ = scenarios
    d = diff.compare(plans["base"], plans["more-civo-and-label"])
    pool, new = lon["name"], lon["count"]
    existing = [f"kosmos-{pool}-{i}-labels" for i in range(new)]
    assert _ops(d) == {
        ("+", f"kosmos-{pool}-nodes-{new}"),
        ("+", f"kosmos-{pool}-nodes-{new}-identity"),
        ("+", f"kosmos-{pool}-{new}-labels"),
        ("~", f"kosmos-{pool}-pool"),
        ("~", f"kosmos-{pool}-readiness"),  # one more member to wait for
        *{("~", name) for name in existing},
    }
    [pool_step] = [s for s in d.steps if s.name == f"kosmos-{pool}-pool"]
    changes = {c.path: (c.old, c.new) for c in pool_step.changes}
    assert changes["labels.team"][1] == "kosmos-diff-test"
    assert changes["size"] == (new, new + 1)
    for step in d.steps:
        if step.name in existing:
            assert [c.path for c in step.changes] == ["metadata.labels.team"]
    assert d.summary().startswith("Resources: 3 to create, 4 to update, 0 to replace, 0 to delete")
    assert d.userdata == {}  # labels are not in the join userdata
    text = diff.render_text(d)
    assert f"~  scaleway:kubernetes/pool:Pool kosmos-{pool}-pool" in text
    assert f"labels.team: " in text and '→ "kosmos-diff-test"' in text


def test_a_removed_pool_is_deleted_and_nothing_else_changes(scenarios):
    plans, _, removed = scenarios
    d = diff.compare(plans["base"], plans["removed-pool"])
    name = removed["name"]
    gone = {r["name"] for r in plans["base"]["resources"].values()
            if r["name"] == f"kosmos-{name}" or r["name"].startswith(f"kosmos-{name}-")}
    assert gone and _ops(d) == {("-", n) for n in gone}
    assert any(n.endswith("-nodes-0") for n in gone) and f"kosmos-{name}-pool" in gone
    assert f"- pool {name}: " in "\n".join(d.pools)
    assert d.summary().startswith(f"Resources: 0 to create, 0 to update, 0 to replace, {len(gone)} to delete")


def test_secrets_compare_by_keyed_hash_only(stack_run, key):
    from tools.plan import snapshot

    run = stack_run(STACK)
    first, second = snapshot(run, key), snapshot(run, secrets.token_bytes(32))
    # A Civo instance (its join is the `script` input); registration order, and so dict order, is the event loop's.
    [instance] = [r for r in first["resources"].values()
                  if r["type"] == "civo:index/instance:Instance" and r["name"].endswith("-nodes-0")][:1]
    script_hash = next(iter(instance["secrets"].values()))
    raw = [r for r in run.registrations if r.name == instance["name"]][0]
    plain = hashlib.sha256(json.dumps(raw.raw_inputs["script"]).encode()).hexdigest()
    assert script_hash != plain  # keyed, not a plain hash anyone could test guesses against
    again = [r for r in second["resources"].values() if r["name"] == instance["name"]][0]
    assert next(iter(again["secrets"].values())) != script_hash  # a new key per diff
    dumped = json.dumps(first)
    assert NODE_SECRET not in dumped and "offline-plan:kosmos:sshPrivateKey" not in dumped


def test_an_elastic_metal_os_change_replaces_the_server(stack_run, key):
    # terraform-provider-scaleway internal/services/baremetal/server.go: an `os` change is an in-place reinstall
    # (ResourceServerUpdate -> installServer), same server, same IP, the stored cloud_init booted again. That would
    # register a second node while the registration (matched by that same IP) keeps the first: replace instead.
    from tools.plan import snapshot

    base = snapshot(stack_run("baremetal"), key)
    head = json.loads(json.dumps(base))
    [urn] = [u for u, r in head["resources"].items() if r["name"] == "kosmos-em-x86-nodes-0"]
    head["resources"][urn]["inputs"]["os"] = "(id of OS ubuntu 24.04, looked up at preview)"
    steps = {s.urn: s for s in diff.compare(base, head).steps}
    assert steps[urn].op == diff.REPLACE, (steps[urn].op, steps[urn].reasons)
    assert steps[urn].reasons == ["os changed: in replaceOnChanges"]
    # In the program an `os` change is also a new generation of the server's node identity (ElasticMetalNodes
    # replacement_inputs): the identity is replaced, and the server with it, through its replacementTrigger.
    [identity_urn] = [u for u, r in head["resources"].items() if r["name"] == "kosmos-em-x86-nodes-0-identity"]
    head["resources"][identity_urn]["inputs"]["generation"] = "0f0f0f"
    steps = {s.urn: s for s in diff.compare(base, head).steps}
    assert steps[identity_urn].op == diff.REPLACE
    assert steps[identity_urn].reasons == [
        "generation changed: an identity field of NodeIdentity (components/identity.py, pool_nodes.py)"]
    assert steps[urn].reasons == ["os changed: in replaceOnChanges",
                                  "replacementTrigger: its node identity kosmos-em-x86-nodes-0-identity is replaced "
                                  "(a new node)"]
    # The pool's readiness waits for the new node and then drains the old one: an update, never a replacement.
    [readiness] = [s for s in steps.values() if s.name == "kosmos-em-x86-readiness"]
    assert readiness.op == diff.UPDATE


def _make_diff(clone, *args):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    return subprocess.run(["make", "--no-print-directory", "diff", f"STACK={STACK}", *args], cwd=clone,
                          capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def cli_runs(clone):
    """`make diff` in the clone: first clean (BASE = merge-base with main), then after a join template comment
    (uncommitted, so BASE = HEAD), with --exit-code."""
    clean = _make_diff(clone, "DIFF_ARGS=--exit-code")
    clean_md = (clone / "build" / STACK / "diff.md").read_text() if clean.returncode == 0 else ""
    marker = f"# kosmos-diff-test-{secrets.token_hex(4)}"
    template = clone / "templates" / "join" / "join.sh.j2"
    first, rest = template.read_text().split("\n", 1)
    template.write_text(f"{first}\n{marker}\n{rest}")  # after the shebang, whatever the template says
    changed = _make_diff(clone, "DIFF_ARGS=--exit-code")
    changed_md = (clone / "build" / STACK / "diff.md").read_text()
    subprocess.run(["git", "checkout", "--", "templates"], cwd=clone, check=True)
    return clean, clean_md, changed, changed_md, marker


def test_no_change_says_so_and_exits_0(cli_runs):
    clean, clean_md, *_ = cli_runs
    assert clean.returncode == 0, clean.stderr
    assert "no changes" in clean.stdout and "Resources: no changes" in clean.stdout
    assert "No changes." in clean_md
    assert clean_md.splitlines()[0] == "<!-- kosmos-diff -->"  # diff-comment.yml finds its comment by this line


def test_a_join_template_comment_replaces_boot_time_machines_and_updates_on_prem_hosts(cli_runs, scenarios):
    _, _, changed, md, marker = cli_runs
    assert changed.returncode == 2, changed.stderr  # --exit-code: changes
    out = changed.stdout
    assert "\033[" not in out  # piped: no colour
    machines = [r for r in scenarios[0]["base"]["resources"].values() if r["type"] in MACHINE_TYPES]
    hosts = [r for r in scenarios[0]["base"]["resources"].values() if r["type"] == COMMAND]
    assert machines and hosts
    for m in machines:
        line = (f"+- {m['type']} {m['name']}\n     replaced because replacementTrigger: its node identity "
                f"{m['name']}-identity is replaced (a new node)")
        assert line in out, m["name"]
        assert f"+- pulumi-python:dynamic/kosmos:NodeIdentity {m['name']}-identity\n" in out
    # The new machine is a new node: its label patch is replaced with it; the pool's readiness is updated.
    patches = [r["name"] for r in scenarios[0]["base"]["resources"].values() if r["type"] == "kubernetes:core/v1:NodePatch"]
    replaced_patches = [p for p in patches if f"+- kubernetes:core/v1:NodePatch {p}\n" in out]
    assert len(replaced_patches) == len(machines)
    assert "metadata.name: (current value) → (known after apply)" in out
    assert "generation: " in out and "match_ip" not in out
    assert f"{3 * len(machines)} to replace" in out and "-+ " not in out
    for h in hosts:
        assert f"~  {COMMAND} {h['name']}\n" in out
        assert "stdin: [secret] changed" in out.split(f"~  {COMMAND} {h['name']}\n", 1)[1].split("\n\n")[0]
    pools = {r["inputs"]["name"] for r in scenarios[0]["base"]["resources"].values()
             if r["type"] == "scaleway:kubernetes/pool:Pool" and r["inputs"]["nodeType"] == "external"}
    for pool in pools:
        assert f"Join userdata of pool {pool} (redacted):" in out
    added = [line for line in out.splitlines() if marker in line]
    assert len(added) == len(pools) and all(line.startswith("+") for line in added)
    assert "0 to create" in out and "0 to delete" in out
    assert "```diff" in md and marker in md and "to replace" in md


def test_no_secret_value_in_any_diff_output(cli_runs, scenarios):
    clean, clean_md, changed, changed_md, _ = cli_runs
    plans = scenarios[0]
    texts = [clean.stdout, clean.stderr, clean_md, changed.stdout, changed.stderr, changed_md]
    for name in ("more-civo-and-label", "removed-pool"):
        d = diff.compare(plans["base"], plans[name])
        texts += [diff.render_text(d, colour=True), diff.render_markdown(d)]
    stack = (REPO / "stacks" / f"Pulumi.{STACK}.yaml").read_text()
    ciphertexts = [v["secure"] for v in yaml.safe_load(stack)["config"].values() if isinstance(v, dict) and "secure" in v]
    known = [NODE_SECRET, "mock-admin-token", "[secret:offline-plan:", *ciphertexts,
             hashlib.sha256(NODE_SECRET.encode()).hexdigest()]
    everything = "\n".join(texts)
    assert "[secret] changed" in everything  # secrets were compared...
    for value in known:
        assert value not in everything  # ...and never shown


def test_exit_code_is_0_with_changes_unless_asked(scenarios, monkeypatch, tmp_path, capsys):
    plans = scenarios[0]
    monkeypatch.setattr(diff, "plan_both", lambda *a: (plans["base"], plans["removed-pool"]))
    assert diff.main(["--stack", STACK, "--base", "HEAD", "--out", str(tmp_path)]) == 0
    assert diff.main(["--stack", STACK, "--base", "HEAD", "--out", str(tmp_path), "--exit-code"]) == 2
    monkeypatch.setattr(diff, "plan_both", lambda *a: (plans["base"], plans["base"]))
    assert diff.main(["--stack", STACK, "--base", "HEAD", "--out", str(tmp_path), "--exit-code"]) == 0
    assert (tmp_path / STACK / "diff.md").read_text().count("No changes.") == 1
    assert "\033[" in diff.render_text(diff.compare(plans["base"], plans["removed-pool"]), colour=True)
    capsys.readouterr()


def test_delete_before_replace_is_marked_minus_plus():
    res = {"type": "t:m:R", "name": "r", "parent": "", "custom": True, "inputs": {"a": 1}, "computed": {},
           "secrets": {}, "replaceOnChanges": ["a"], "ignoreChanges": [], "replacementTrigger": None,
           "deleteBeforeReplace": True}
    base = {"stack": "s", "resources": {"urn:r": res}, "order": ["urn:r"]}
    head = {"stack": "s", "resources": {"urn:r": {**res, "inputs": {"a": 2}}}, "order": ["urn:r"]}
    [step] = diff.compare(base, head).steps
    assert (step.op, step.reasons) == ("-+", ["a changed: in replaceOnChanges"])
    head["resources"]["urn:r"]["deleteBeforeReplace"] = False
    assert diff.compare(base, head).steps[0].op == "+-"


def test_bad_base_ref_is_a_clear_error(clone):
    result = subprocess.run([sys.executable, "-m", "tools.diff", "--stack", STACK, "--base", "no-such-ref"],
                            cwd=clone, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "error: git rev-parse --verify no-such-ref^{commit}" in result.stderr
