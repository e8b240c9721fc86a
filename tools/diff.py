"""`make diff`: what a change does to a stack, reviewed offline (no credentials, no state, no Pulumi CLI).

    python -m tools.diff --stack blog [--base <git ref>] [--exit-code] [--color auto|always|never]

Plans the stack at BASE (default: the merge-base with `main`, or HEAD when the working tree has uncommitted changes)
in a temporary git worktree, and at the working tree, both on the mock engine (tools/plan.py), then compares the two
by URN the way `pulumi preview --diff` reads: `+` create, `-` delete, `~` update, `+-` replace (create before
delete), `-+` replace (delete before create). Changed inputs are shown old → new; secrets only as "[secret]
changed/unchanged", decided by comparing HMACs under a key made for this one diff (never values, never plain
hashes). Every replacement says why: a force-new input of the provider (components/catalog.py FORCE_NEW_INPUTS, the
node identity's fields), `replaceOnChanges`, or `replacementTrigger` (a machine's node identity). Pools whose join userdata changed get
a unified diff of the redacted script. The same goes to build/<stack>/diff.md for a pull-request comment.

Offline, every resource at BASE is taken as deployed. An output of a resource that is created or replaced is
"(known after apply)" again, so what consumes it changes too (Pulumi's preview does the same).
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import pathlib
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any, Optional

from components import catalog, clouds, rollout, versions
from components.identity import IDENTITY_FIELDS
from components.pool_nodes import REPLACE_FIELDS as POOL_NODES_REPLACE_FIELDS

from .engine import KNOWN_AFTER_APPLY, REPO, SECRET

CREATE, DELETE, UPDATE, REPLACE, REPLACE_DBR, SAME = "+", "-", "~", "+-", "-+", " "
CURRENT = "(current value)"
"""What a value invented offline stands for at BASE: whatever the deployed resource has."""
IDENTITY_TYPE = "pulumi-python:dynamic/kosmos:NodeIdentity"
POOL_NODES_TYPE = "pulumi-python:dynamic/kosmos:PoolNodes"
# Where replacement decisions come from, per type. kosmos's own providers replace on their identity fields
# (components/identity.py NodeIdentityProvider.diff, components/pool_nodes.py PoolNodesProvider.diff).
DYNAMIC_TYPES = (IDENTITY_TYPE, POOL_NODES_TYPE)
FORCE_NEW: dict[str, tuple[str, ...]] = {**catalog.FORCE_NEW_INPUTS, **clouds.FORCE_NEW_INPUTS,
                                         IDENTITY_TYPE: IDENTITY_FIELDS, POOL_NODES_TYPE: POOL_NODES_REPLACE_FIELDS}
COLOURS = {CREATE: "32", DELETE: "31", UPDATE: "33", REPLACE: "35", REPLACE_DBR: "35"}
VERBS = {CREATE: "create", UPDATE: "update", REPLACE: "replace", DELETE: "delete"}
COMMENT_MARKER = "<!-- kosmos-diff -->"
"""First line of diff.md: .github/workflows/diff-comment.yml finds (and updates) its own comment by it."""
COMMENT_LIMIT = 60000
"""GitHub refuses comments over 65,536 characters: diff.md is cut below that, pointing at the artifact."""


class DiffError(Exception):
    pass


# ---------------------------------------------------------------------------------------------------------------
# Comparing two snapshots (tools.plan.snapshot)
# ---------------------------------------------------------------------------------------------------------------


def flatten(value: Any, path: str = "") -> dict[str, Any]:
    """{"a": {"b": [1]}} -> {"a.b[0]": 1}; empty containers are leaves."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{path}.{k}" if path else str(k)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(flatten(v, f"{path}[{i}]"))
        return out
    return {path: value}


def _under(path: str, field_: str) -> bool:
    """Whether `path` is `field_` or inside it. `field_` may be a pattern like `triggers[*]`, `a.*` or `*`."""
    field_ = field_.replace("[*]", "").removesuffix(".*")
    return field_ == "*" or path == field_ or path.startswith(field_ + ".") or path.startswith(field_ + "[")


@dataclass
class PropertyChange:
    path: str
    old: Any
    new: Any
    secret: bool = False
    ignored: bool = False
    """In ignoreChanges: the engine does not send it to the provider."""


@dataclass
class Step:
    urn: str
    type: str
    name: str
    op: str
    changes: list[PropertyChange] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    secrets_unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass
class Diff:
    stack: str
    base_label: str
    head_label: str
    steps: list[Step]
    unchanged: int
    userdata: dict[str, str]
    """pool -> unified diff of the redacted join userdata."""
    pools: list[str]
    """Pool-level notes: pools added or removed, and what a userdata change does to their machines."""
    warnings: list[str]
    upgrade: list[str] = field(default_factory=list)
    """What a version or join change does, pool by pool: machines replaced, hosts re-joined in place, in what
    order."""

    def count(self, *ops: str) -> int:
        return sum(1 for s in self.steps if s.op in ops)

    @property
    def changed(self) -> bool:
        return bool(self.steps)

    def summary(self) -> str:
        if not self.steps:
            return f"Resources: no changes ({self.unchanged} unchanged)"
        return (f"Resources: {self.count(CREATE)} to create, {self.count(UPDATE)} to update, "
                f"{self.count(REPLACE, REPLACE_DBR)} to replace, {self.count(DELETE)} to delete, "
                f"{self.unchanged} unchanged")


def _show(value: Any) -> str:
    if isinstance(value, str) and value in (SECRET, CURRENT, KNOWN_AFTER_APPLY):
        return value
    if isinstance(value, str) and value.startswith("(") and value.endswith(")"):
        return value  # other marked values (lookups)
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 120 else text[:119] + "…"


def compare(base: dict, head: dict, base_label: str = "BASE", head_label: str = "working tree") -> Diff:
    """The steps `pulumi up` would take to go from `base` (taken as deployed) to `head`."""
    old, new = base["resources"], head["resources"]
    steps: dict[str, Step] = {}
    unchanged = 0
    # Dependency order: a resource's producers are decided before it (their outputs may become unknown).
    order = [u for u in head.get("order", []) if u in new] + sorted(set(new) - set(head.get("order", [])))
    for urn in order:
        h, b = new[urn], old.get(urn)
        if b is None:
            steps[urn] = Step(urn, h["type"], h["name"], CREATE)
            continue
        if not h["custom"]:
            unchanged += 1
            continue
        step = _resource_step(urn, b, h, steps)
        if step.op == SAME:
            unchanged += 1
        else:
            steps[urn] = step
    for urn in sorted(set(old) - set(new), key=lambda u: base.get("order", []).index(u)
                      if u in base.get("order", []) else 0, reverse=True):
        steps[urn] = Step(urn, old[urn]["type"], old[urn]["name"], DELETE)
    ordered = [steps[u] for u in order if u in steps] + [s for u, s in steps.items() if s.op == DELETE]
    upgrade, upgrade_warnings = _upgrade_notes(base, head, ordered)
    return Diff(
        stack=head.get("stack") or base.get("stack", ""),
        base_label=base_label,
        head_label=head_label,
        steps=ordered,
        unchanged=unchanged,
        userdata=_userdata_diffs(base, head, base_label, head_label),
        pools=_pool_notes(base, head),
        warnings=[w for w in head.get("warnings", []) if w not in base.get("warnings", [])] + upgrade_warnings,
        upgrade=upgrade,
    )


CLUSTER_TYPE = "scaleway:kubernetes/cluster:Cluster"


def _upgrade_notes(base: dict, head: dict, steps: list[Step]) -> tuple[list[str], list[str]]:
    """(notes, warnings): the Kubernetes version move, and per external pool whose join changed, what happens to its
    machines and in what order."""
    notes: list[str] = []
    warnings: list[str] = []
    old_cluster = next((r for r in base["resources"].values() if r["type"] == CLUSTER_TYPE), None)
    new_cluster = next((r for r in head["resources"].values() if r["type"] == CLUSTER_TYPE), None)
    version_moves = bool(old_cluster and new_cluster
                         and old_cluster["inputs"].get("version") != new_cluster["inputs"].get("version"))
    if version_moves:
        old_v, new_v = str(old_cluster["inputs"].get("version")), str(new_cluster["inputs"].get("version"))
        notes.append(f"Kubernetes {old_v} → {new_v}: the control plane and the Scaleway pools first (every external "
                     "machine's join depends on the pool), then the external pools below")
        old_n, new_n = versions.minor_number(old_v), versions.minor_number(new_v)
        if old_n is not None and new_n is not None and new_n > old_n + 1:
            warnings.append(f"kosmos:cluster.version {old_v} → {new_v} skips {new_n - old_n - 1} minor version(s): "
                            "Scaleway upgrades a cluster one minor at a time (SDK UpgradeClusterRequest: \"the direct "
                            f"minor version after the current one\"); go to 1.{old_n + 1} first")
        elif old_n is not None and new_n is not None and (new_n < old_n or (new_n == old_n and new_v.count(".") == 2
                                                                             and _patch(new_v) < _patch(old_v))):
            warnings.append(f"kosmos:cluster.version {old_v} → {new_v} goes down: Scaleway only upgrades (SDK "
                            "UpgradeClusterRequest), so `pulumi up` would fail at the cluster")
    settings = head.get("upgrade", {})
    changed = [p for p in head.get("userdata", {}) if base.get("userdata", {}).get(p) not in (None, head["userdata"][p])]
    for pool in changed:
        s = settings.get(pool, {})
        if s.get("provider") == "on-prem":
            chain = _rollout_chain(head, pool)
            if chain is not None:
                hosts, m = chain
                order = " → ".join("[" + ", ".join(w) + "]" for w in rollout.waves(hosts, m))
                if version_moves:
                    notes.append(f"pool {pool}: hosts re-join in place (cordon, drain, re-run the agent, Ready on the "
                                 f"new version, uncordon), {m} at a time: {order}")
                else:
                    # The re-run agent installs nothing when the version stays (component.go), so the gates neither
                    # cordon nor wait (rollout.py): the hosts re-join at once, none taken out of service.
                    notes.append(f"pool {pool}: hosts re-join in place, all at once and without cordon or drain "
                                 f"({', '.join(hosts)}): the Kubernetes version does not move, so the agent "
                                 "installs nothing")
            else:
                notes.append(f"pool {pool}: hosts re-join in place, all at once (no rollout gates in this plan): "
                             + " ".join("[" + h + "]" for h in s.get("hosts") or []))
            continue
        # Machines only: each comes with its new node identity (the identity's replacement is what replaces it).
        replaced = [st.name for st in steps if st.op in (REPLACE, REPLACE_DBR)
                    and not st.type.endswith(":NodeIdentity")
                    and str(head["resources"].get(st.urn, {}).get("parent", "")).endswith(f"::kosmos-{pool}-nodes")]
        if not replaced:
            continue
        notes.append(f"pool {pool}: {len(replaced)} machine(s) replaced create-before-delete, all at once: "
                     f"{', '.join(replaced)}; once the pool runs the new version, each gets a new node identity, "
                     "the pool's readiness waits until the new nodes are Ready, then drains and deletes the old "
                     "nodes, and Pulumi deletes the old machines at the end of the update")
        surge = s.get("maxSurge")
        if surge is not None and len(replaced) > surge:
            warnings.append(f"pool {pool}: this update replaces {len(replaced)} machines, more than "
                            f"upgrade.maxSurge {surge}: one `pulumi up` creates every replacement and deletes the old "
                            "machines only at its end (README, Upgrading: apply in steps)")
    return notes, warnings


def _patch(version: str) -> int:
    """`1.35.10` -> 10 (numerically: "1.35.10" < "1.35.9" as strings); a minor alone counts as its lowest patch."""
    parts = version.split(".")
    return int(parts[2]) if len(parts) == 3 and parts[2].isdigit() else -1


def _rollout_chain(head: dict, pool: str) -> Optional[tuple[list[str], int]]:
    """The on-prem pool's host order and maxUnavailable as its wired rollout gates say (components/rollout.py): each
    host gate depends on the previous one, and the tail gate waits for the last maxUnavailable hosts. None when the
    plan has no gates for the pool."""
    suffix = f"::kosmos-{pool}-nodes"
    gates = {urn: r for urn, r in head["resources"].items()
             if "RolloutGate" in r["type"] and str(r.get("parent", "")).endswith(suffix)}
    hosts = {urn: r for urn, r in gates.items() if r["inputs"].get("machine")}
    tail = [r for r in gates.values() if not r["inputs"].get("machine")]
    if not hosts or len(tail) != 1:
        return None
    previous = {urn: next((d for d in r.get("dependencies", []) if d in hosts), None) for urn, r in hosts.items()}
    following = {prev: urn for urn, prev in previous.items() if prev}
    urn = next((u for u, prev in previous.items() if prev is None), None)
    order = []
    while urn is not None and len(order) <= len(hosts):
        order.append(hosts[urn]["inputs"]["machine"])
        urn = following.get(urn)
    return order, max(1, len(tail[0]["inputs"].get("wait_node_names") or []))


def _resource_step(urn: str, b: dict, h: dict, steps: dict[str, Step]) -> Step:
    step = Step(urn, h["type"], h["name"], SAME)
    before, after = flatten(b["inputs"]), flatten(h["inputs"])
    # Values produced by a resource that is being created or replaced are not known until it is.
    for path, producer in h.get("computed", {}).items():
        if producer in steps and steps[producer].op in (CREATE, REPLACE, REPLACE_DBR):
            for leaf in [p for p in after if _under(p, path)]:
                after[leaf] = KNOWN_AFTER_APPLY
                if leaf in before:
                    before[leaf] = CURRENT
    ignore = h.get("ignoreChanges") or []
    for path in sorted(set(before) | set(after)):
        if path in h["secrets"] or path in b["secrets"]:
            continue
        if before.get(path, None) != after.get(path, None) or (path not in before) != (path not in after):
            step.changes.append(PropertyChange(path, before.get(path), after.get(path),
                                               ignored=any(_under(path, i) for i in ignore)))
    for path in sorted(set(b["secrets"]) | set(h["secrets"])):
        if b["secrets"].get(path) != h["secrets"].get(path):
            step.changes.append(PropertyChange(path, SECRET, SECRET, secret=True,
                                               ignored=any(_under(path, i) for i in ignore)))
        else:
            step.secrets_unchanged.append(path)
    effective = [c for c in step.changes if not c.ignored]
    force_new = FORCE_NEW.get(h["type"], ())
    for c in effective:
        if any(_under(c.path, f) for f in force_new):
            source = (f"an identity field of {h['type'].rsplit(':', 1)[-1]} (components/identity.py, pool_nodes.py)"
                      if h["type"] in DYNAMIC_TYPES else "force-new in the provider (components/catalog.py, clouds/)")
            step.reasons.append(f"{c.path} changed: {source}")
        elif any(_under(c.path, f) for f in h.get("replaceOnChanges") or []):
            step.reasons.append(f"{c.path} changed: in replaceOnChanges")
    producer = h.get("replacementTriggerFrom")
    if producer and producer in steps and steps[producer].op in (CREATE, REPLACE, REPLACE_DBR):
        step.reasons.append(f"replacementTrigger: its node identity {steps[producer].name} is "
                            f"{'created' if steps[producer].op == CREATE else 'replaced'} (a new node)")
    elif b.get("replacementTrigger") != h.get("replacementTrigger"):
        step.reasons.append(
            f"replacementTrigger changed: {str(b.get('replacementTrigger'))[:12]} → "
            f"{str(h.get('replacementTrigger'))[:12]}"
        )
    for c in effective:
        if c.path in clouds.UPDATE_REFUSED_INPUTS.get(h["type"], ()) and not step.reasons:
            step.warnings.append(f"{c.path}: the provider refuses to change it in place; `pulumi up` would fail")
    if step.reasons:
        step.op = REPLACE_DBR if h.get("deleteBeforeReplace") else REPLACE
    elif effective:
        step.op = UPDATE
    return step


def _userdata_diffs(base: dict, head: dict, base_label: str, head_label: str) -> dict[str, str]:
    out = {}
    for pool in sorted(set(base.get("userdata", {})) & set(head.get("userdata", {}))):
        a, b = base["userdata"][pool], head["userdata"][pool]
        if a != b:
            out[pool] = "".join(difflib.unified_diff(
                a.splitlines(keepends=True), b.splitlines(keepends=True),
                fromfile=f"{pool} userdata (redacted), {base_label}", tofile=f"{pool} userdata (redacted), {head_label}",
            ))
    return out


def _pool_notes(base: dict, head: dict) -> list[str]:
    before = {p["pool"]: p for p in base.get("pools", [])}
    after = {p["pool"]: p for p in head.get("pools", [])}
    notes = []
    for name, p in after.items():
        if name not in before:
            notes.append(f"+ pool {name}: {p['count']} × {p['machineType']} ({p['os']}) on {p['cloud']} {p['region']}")
        elif before[name]["machineType"] and (before[name]["count"], before[name]["machineType"],
                                              before[name]["os"]) != (p["count"], p["machineType"], p["os"]):
            b = before[name]
            notes.append(f"~ pool {name}: {b['count']} × {b['machineType']} ({b['os']}) → "
                         f"{p['count']} × {p['machineType']} ({p['os']})")
    for name, p in before.items():
        if name not in after:
            notes.append(f"- pool {name}: {p['count']} × {p['machineType']} on {p['cloud']} {p['region']}")
    changed = {pool for pool in set(base.get("userdata", {})) & set(head.get("userdata", {}))
               if base["userdata"][pool] != head["userdata"][pool]}
    for name in sorted(changed):
        if name in after:
            notes.append(f"userdata of pool {name} changed: {after[name]['onUserdataChange']}")
    return notes


# ---------------------------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------------------------


def render_lines(diff: Diff) -> list[tuple[str, str]]:
    """(op, line) pairs; op picks the colour."""
    lines: list[tuple[str, str]] = []
    for step in diff.steps:
        lines.append((step.op, f"{step.op:<2} {step.type} {step.name}"))
        for reason in step.reasons:
            lines.append((step.op, f"     replaced because {reason}"))
        for c in step.changes:
            if c.secret:
                text = f"{c.path}: [secret] changed"
            elif c.old is None:
                text = f"+ {c.path}: {_show(c.new)}"
            elif c.new is None:
                text = f"- {c.path}: {_show(c.old)}"
            else:
                text = f"{c.path}: {_show(c.old)} → {_show(c.new)}"
            if c.ignored:
                text += " (ignoreChanges: not sent to the provider)"
            lines.append((step.op, f"       {text}"))
        for path in step.secrets_unchanged if step.op != SAME else []:
            lines.append((SAME, f"       {path}: [secret] unchanged"))
        for warning in step.warnings:
            lines.append((DELETE, f"     warning: {warning}"))
    return lines


def render_text(diff: Diff, colour: bool = False) -> str:
    def paint(op: str, text: str) -> str:
        return f"\033[{COLOURS[op]}m{text}\033[0m" if colour and op in COLOURS else text

    out = [f"kosmos diff for stack {diff.stack!r}: {diff.base_label} → {diff.head_label} "
           "(offline: mock engine, no credentials)", ""]
    body = render_lines(diff)
    out += [paint(op, line) for op, line in body] or ["no changes"]
    if diff.pools:
        out += ["", "Pools:"] + [f"  {note}" for note in diff.pools]
    if diff.upgrade:
        out += ["", "Upgrade:"] + [f"  {note}" for note in diff.upgrade]
    for pool, text in diff.userdata.items():
        out += ["", f"Join userdata of pool {pool} (redacted):"]
        for line in text.splitlines():
            op = CREATE if line.startswith("+") and not line.startswith("+++") else (
                DELETE if line.startswith("-") and not line.startswith("---") else SAME)
            out.append(paint(op, line))
    for warning in diff.warnings:
        out.append(f"warning: {warning}")
    out += ["", paint(UPDATE if diff.changed else SAME, diff.summary())]
    return "\n".join(out) + "\n"


def render_markdown(diff: Diff) -> str:
    out = [COMMENT_MARKER, f"### kosmos diff: stack `{diff.stack}`", "",
           f"`{diff.base_label}` → `{diff.head_label}`, planned offline (mock engine, no credentials).", "",
           f"**{diff.summary()}**", ""]
    body = render_lines(diff)
    if body:
        # A ```diff block: GitHub colours lines starting with + and - (updates are put under `!`, which it leaves
        # plain, so a `~` line is not mistaken for an addition).
        out += ["```diff"] + [("! " + line[3:] if op == UPDATE and line.startswith("~ ") else line)
                              for op, line in body] + ["```"]
    else:
        out.append("No changes.")
    if diff.pools:
        out += ["", "**Pools**", ""] + [f"- {note}" for note in diff.pools]
    if diff.upgrade:
        out += ["", "**Upgrade**", ""] + [f"- {note}" for note in diff.upgrade]
    for pool, text in diff.userdata.items():
        out += ["", f"<details><summary>Join userdata of pool <code>{pool}</code> (redacted)</summary>", "",
                "```diff", text.rstrip("\n"), "```", "", "</details>"]
    for warning in diff.warnings:
        out.append(f"\n> warning: {warning}")
    text = "\n".join(out) + "\n"
    if len(text) > COMMENT_LIMIT:
        text = text[:COMMENT_LIMIT] + "\n\n… cut: the full diff is `make diff` output (and the CI artifact).\n"
    return text


# ---------------------------------------------------------------------------------------------------------------
# Planning BASE and the working tree
# ---------------------------------------------------------------------------------------------------------------


def _git(repo: pathlib.Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip()


def default_base(repo: pathlib.Path) -> str:
    """HEAD when the working tree has uncommitted changes, else the merge-base with main (or origin/main)."""
    if _git(repo, "status", "--porcelain", "--untracked-files=normal"):
        return "HEAD"
    for main in ("main", "origin/main"):
        try:
            return _git(repo, "merge-base", "HEAD", main)
        except DiffError:
            continue
    raise DiffError("no `main` or `origin/main` to compare with: pass BASE=<git ref>")


def resolve(repo: pathlib.Path, ref: str) -> str:
    return _git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")


def start_plan(checkout: pathlib.Path, stack: str, key: bytes, out: pathlib.Path, plan_out: str) -> tuple:
    """Plan `checkout` with these tools in a fresh process (its own `components`); returns (process, snapshot path)."""
    snap = out / f"{checkout.name}-{stack}.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tools.plan", "--repo", str(checkout), "--stack", stack, "--out", plan_out,
         "--snapshot", str(snap), "--quiet"],
        cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdin.write(key.hex() + "\n")  # the hash key never goes on a command line
    proc.stdin.close()
    return proc, snap


def finish_plan(proc, snap: pathlib.Path, what: str) -> dict:
    stdout = proc.stdout.read()
    stderr = proc.stderr.read()
    if proc.wait() != 0:
        raise DiffError(f"planning {what} failed:\n{(stderr or stdout).strip()}")
    return json.loads(snap.read_text())


def plan_both(repo: pathlib.Path, stack: str, ref: str, key: bytes, plan_out: str) -> tuple[dict, dict]:
    """Snapshots of `stack` at `ref` (in a temporary git worktree) and in the working tree, planned in parallel."""
    commit = resolve(repo, ref)
    with tempfile.TemporaryDirectory(prefix="kosmos-diff-") as tmp:
        work = pathlib.Path(tmp)
        base_tree = work / "base"
        _git(repo, "worktree", "add", "--detach", "--quiet", str(base_tree), commit)
        try:
            base = start_plan(base_tree, stack, key, work, "")
            head = start_plan(repo, stack, key, work, plan_out)
            return finish_plan(*base, f"{ref} ({commit[:12]})"), finish_plan(*head, "the working tree")
        finally:
            _git(repo, "worktree", "remove", "--force", str(base_tree))


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="baremetal",
                        help="stack name: stacks/Pulumi.<stack>.yaml (default: baremetal, a multicloud stack)")
    parser.add_argument("--base", default="", help="git ref to compare with (default: merge-base with main, or "
                        "HEAD when there are uncommitted changes)")
    parser.add_argument("--out", default=str(REPO / "build"), help="output directory (default: build/)")
    parser.add_argument("--exit-code", action="store_true", help="exit 2 when there are changes (for scripts)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    args = parser.parse_args(argv)
    try:
        ref = args.base or default_base(REPO)
        commit = resolve(REPO, ref)
        label = commit[:12] if ref == commit else f"{ref} ({commit[:12]})"
        key = secrets.token_bytes(32)  # this diff's only key: hashes from two diffs never compare
        base, head = plan_both(REPO, args.stack, ref, key, args.out)
    except DiffError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if base.get("missing") and head.get("missing"):
        print(f"error: no stack file stacks/Pulumi.{args.stack}.yaml at {label} or in the working tree",
              file=sys.stderr)
        return 1
    diff = compare(base, head, label, "working tree")
    colour = args.color == "always" or (args.color == "auto" and sys.stdout.isatty() and not os.environ.get("NO_COLOR"))
    sys.stdout.write(render_text(diff, colour))
    out = pathlib.Path(args.out) / args.stack
    out.mkdir(parents=True, exist_ok=True)
    (out / "diff.md").write_text(render_markdown(diff))
    print(f"wrote {out / 'diff.md'}")
    return 2 if args.exit_code and diff.changed else 0


if __name__ == "__main__":
    sys.exit(main())
