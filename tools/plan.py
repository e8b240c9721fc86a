"""`make plan`: what `pulumi up` would create for a stack, computed offline.

    python -m tools.plan [--stack baremetal] [--out build] [--repo <checkout>]

Runs the real __main__.py against stacks/Pulumi.<stack>.yaml on the SDK's mock engine (tools/engine.py), prints a
resource tree (dependency order) and a summary, and writes build/<stack>/plan.json, build/<stack>/summary.md and the
redacted join userdata of each external pool as build/<stack>/userdata/<pool>.sh|.yaml, removing whatever an earlier plan left
there. Secrets are printed and written as "[secret]"; values only a real deployment knows (ids, addresses, node
names) as "(known after apply)" / "(assigned by Scaleway at join)".

`--repo` plans another checkout's program, components, templates and stacks with these tools (make diff plans the
base revision that way). `--snapshot FILE` also writes what make diff compares, with secrets as keyed hashes; the
one-off key is read from stdin, never from argv.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import pathlib
import re
import shutil
import sys
import textwrap
from collections import Counter
from typing import Any, Optional

from .engine import (
    KNOWN_AFTER_APPLY, REPO, SECRET, ProgramRun, StackFileError, load_stack_config, run_program,
)

# The inputs worth a glance in the tree, per resource type (others: the first few scalar inputs).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "scaleway:kubernetes/cluster:Cluster": ("name", "region", "version", "type", "cni"),
    "scaleway:kubernetes/pool:Pool": ("name", "nodeType", "size", "zone", "region"),
    "scaleway:iam/policy:Policy": ("name", "rules"),
    "scaleway:iam/apiKey:ApiKey": ("expiresAt",),
    "civo:index/instance:Instance": ("hostname", "region", "size", "diskImage", "script"),
    "civo:index/firewall:Firewall": ("name", "region", "createDefaultRules"),
    "equinix-metal:index/device:Device": ("hostname", "metro", "plan", "operatingSystem", "userData"),
    "scaleway:elasticmetal/server:Server": ("hostname", "zone", "offer", "os", "cloudInit"),
    "command:remote:Command": ("create", "stdin", "triggers"),
    # A machine's node (components/identity.py) and the pool's readiness (components/pool_nodes.py).
    "pulumi-python:dynamic/kosmos:NodeIdentity": ("machine", "generation"),
    "pulumi-python:dynamic/kosmos:PoolNodes": ("poolName", "wait", "timeoutSeconds", "skipDrain"),
    "kubernetes:core/v1:NodePatch": ("metadata",),
    "pulumi:providers:kubernetes": ("kubeconfig",),
}
WIDTH = 118
"""Tree lines wrap here: stable output (goldens, review) whatever the terminal."""
PLAN_FILES = ("plan.json", "summary.md")
"""What a plan writes under build/<stack>/ (plus userdata/); anything else there is stale and removed."""


def _short(value: Any, limit: int = 70) -> str:
    if value == SECRET:
        return SECRET
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest)


def _natural(text: str) -> list:
    """`node-2` before `node-10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def displayed_inputs(run: ProgramRun, reg) -> tuple[dict, dict[str, str]]:
    """A resource's inputs as a reviewer sees them (secrets "[secret]", invented values marked), and which resource
    produced each marked value (path -> URN; "" for a lookup)."""
    found: dict[str, str] = {}
    deps = dict(reg.property_dependencies)
    inputs = {k: v for k, v in reg.inputs.items() if k != "__provider"}
    return run.unknowns.mark(inputs, deps, found), found


def displayed_export(run: ProgramRun, name: str) -> Any:
    export = run.exports.get(name)
    if export is None:
        return None
    return SECRET if export.secret else run.unknowns.mark(export.value)


def dependency_order(run: ProgramRun) -> list:
    """Every registration, parents before children and, among siblings, a resource after the ones its subtree
    depends on (Kahn's algorithm; ties in natural name order, so machine 0's registration and label patch come
    before machine 1's)."""
    by_urn = run.by_urn()
    children: dict[str, list] = {}
    for reg in run.registrations:
        children.setdefault(reg.parent, []).append(reg)

    def subtree(reg) -> set[str]:
        out = {reg.urn}
        for child in children.get(reg.urn, []):
            out |= subtree(child)
        return out

    def needs(reg) -> set[str]:
        found: set[str] = set()
        for urn in subtree(reg):
            r = by_urn[urn]
            found.update(r.dependencies)
            for urns in r.property_dependencies.values():
                found.update(urns)
        return found

    ordered: list = []

    def walk(parent: str) -> None:
        siblings = children.get(parent, [])
        owner = {u: s.urn for s in siblings for u in subtree(s)}
        after = {s.urn: {owner[d] for d in needs(s) if d in owner and owner[d] != s.urn} for s in siblings}
        done: set[str] = set()
        pending = sorted(siblings, key=lambda r: _natural(r.name))
        while pending:
            ready = next((s for s in pending if after[s.urn] <= done), pending[0])  # a cycle cannot happen
            pending.remove(ready)
            done.add(ready.urn)
            ordered.append(ready)
            walk(ready.urn)

    for root in sorted({r.parent for r in run.registrations} - set(by_urn)):
        walk(root)
    return ordered


def _depth(run: ProgramRun, reg) -> int:
    by_urn, depth = run.by_urn(), 0
    while reg.parent in by_urn:
        reg, depth = by_urn[reg.parent], depth + 1
    return depth


def render_tree(run: ProgramRun, width: int = WIDTH) -> str:
    lines: list[str] = []
    for reg in dependency_order(run):
        indent = "  " * _depth(run, reg)
        inputs, _ = displayed_inputs(run, reg)
        inputs = {_camel(k): v for k, v in inputs.items()}
        wanted = KEY_INPUTS.get(reg.type)
        if wanted is None:
            wanted = tuple(k for k, v in inputs.items() if isinstance(v, (str, int, bool)))[:4]
        shown = [f"{k}={_short(inputs[k])}" for k in wanted if inputs.get(k) not in (None, "", [], {})]
        # Only paths into inputs the resource has: pulumi-command's SDK adds `triggers[*]` to every Command, and
        # kosmos sets no triggers (an on-prem re-join is an in-place update), so showing it would only mislead.
        replace_on = [p for p in reg.replace_on_changes if re.split(r"[.\[]", p, 1)[0] in reg.raw_inputs]
        if replace_on:
            shown.append(f"[replaceOnChanges={','.join(replace_on)}]")
        if reg.replacement_trigger is not None:
            shown.append(f"[replaced with its node identity, node id {_short(run.unknowns.mark(reg.replacement_trigger), 20)}]")
        if reg.protect:
            shown.append("[protect]")
        lines.append(f"{indent}+ {reg.type} {reg.name}")
        if shown:
            lines += textwrap.wrap(", ".join(shown), width=width, initial_indent=indent + "      ",
                                   subsequent_indent=indent + "      ", break_on_hyphens=False)
    return "\n".join(lines)


def plan_document(run: ProgramRun) -> dict:
    resources = []
    for reg in sorted(run.registrations, key=lambda r: r.urn):
        doc = reg.to_json()
        doc["inputs"], found = displayed_inputs(run, reg)
        doc["provider"] = run.unknowns.mark(doc["provider"])  # `<provider urn>::<provider id>`
        doc["replacementTrigger"] = run.unknowns.mark(doc["replacementTrigger"])  # a NodeIdentity's node id
        doc["knownAfterApply"] = dict(sorted(found.items()))
        resources.append(doc)
    return {
        "stack": run.stack,
        "resources": resources,
        "outputs": {name: displayed_export(run, name) for name in sorted(run.exports)},
        "warnings": run.warnings,
    }


def node_rows(run: ProgramRun) -> list[dict]:
    """The `nodes` export ({pool: {pool facts, machines: [...]}}) as one row per node, in stack-file order."""
    return [
        {"pool": name, **{k: v for k, v in pool.items() if k != "machines"}, **machine}
        for name, pool in (run.export_value("nodes") or {}).items()
        for machine in pool["machines"]
    ]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _catalog():
    from components import catalog  # imported late: with --repo, the planned checkout's components

    return catalog


def _scaleway_pools(run: ProgramRun) -> list:
    """Scaleway pools by name. Resources, components included, reach the engine in an order the event loop decides
    (each registration awaits its parent's URN and its dependencies first), so neither the custom resources' nor
    their parents' order is the stack file's: seen swapping between two runs of the same program."""
    pools = [p for p in run.by_type("scaleway:kubernetes/pool:Pool")
             if p.inputs.get("nodeType") != _catalog().EXTERNAL_NODE_TYPE]
    return sorted(pools, key=lambda p: str(p.inputs.get("name")))


def summary_lines(run: ProgramRun) -> list[str]:
    nodes = node_rows(run)
    pools = run.by_type("scaleway:kubernetes/pool:Pool")
    scw = _scaleway_pools(run)
    lines = [
        f"{len(run.custom())} resources ({len(run.registrations) - len(run.custom())} components) would be created.",
        f"Scaleway pools: {len(scw)} ({_count(sum(p.inputs.get('size', 0) for p in scw), 'node')}); "
        f"external pools: {len(pools) - len(scw)} ({_count(len(nodes), 'node')}).",
    ]
    per_location = Counter((n["cloud"], n["region"]) for n in nodes)
    per_location.update(
        {("scaleway", p.inputs.get("zone")): p.inputs.get("size", 0) for p in scw}  # type: ignore[dict-item]
    )
    for (cloud, where), count in sorted(per_location.items()):
        lines.append(f"  {cloud:<24} {where:<10} {_count(count, 'node')}")
    return lines


def pool_rows(run: ProgramRun) -> list[dict]:
    """One row per pool (Scaleway pools, then external pools in stack-file order): what a reviewer pays for."""
    catalog = _catalog()
    rows = [
        {"pool": p.inputs["name"], "cloud": "scaleway", "region": p.inputs.get("zone"),
         "machineType": p.inputs.get("nodeType"), "os": "managed by Scaleway", "count": p.inputs.get("size"),
         "onUserdataChange": "no join userdata (Scaleway-managed nodes)"}
        for p in _scaleway_pools(run)
    ]
    for name, pool in (run.export_value("nodes") or {}).items():
        rows.append({"pool": name, "cloud": pool["cloud"], "region": pool["region"],
                     "machineType": pool.get("machineType", ""), "os": pool.get("os", ""),
                     "count": len(pool["machines"]),
                     "onUserdataChange": pool.get("onUserdataChange", "")})
    return rows


def summary_markdown(run: ProgramRun) -> str:
    nodes = run.unknowns.mark(node_rows(run))
    cluster = run.by_type("scaleway:kubernetes/cluster:Cluster")[0].inputs
    out = [
        f"# kosmos plan: stack `{run.stack}`",
        "",
        f"Cluster `{cluster.get('name')}`: {cluster.get('type')} in {cluster.get('region')}, Kubernetes "
        f"{cluster.get('version')}, CNI {cluster.get('cni')}.",
        "",
        "## Pools",
        "",
        "| pool | cloud | region | machine | OS | count | on userdata change |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in pool_rows(run):
        out.append(f"| {r['pool']} | {r['cloud']} | {r['region']} | {r['machineType']} | {r['os']} | {r['count']} | "
                   f"{r['onUserdataChange']} |")
    if nodes:
        out += [
            "",
            "## External nodes",
            "",
            "Node ids and names (Scaleway's, registered by kosmos before each machine), machine ids and public "
            f"addresses are {KNOWN_AFTER_APPLY.strip('()')}. The userdata sha256 here is that of a rendering with a stand-in pool id, "
            "so it is not the deployed value, but it changes exactly when the redacted userdata does.",
            "",
            "| pool | machine | hostname | node | arch | public IP | labels | userdata sha256 |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for n in nodes:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(n["labels"].items()))
            out.append(
                f"| {n['pool']} | {n['machine']} | {n['hostname']} | {n['nodeName']} | {n['arch']} | {n['publicIp']} | "
                f"{labels} | "
                f"`{n['userdataSha256'][:12]}` |"
            )
        counts = Counter((n["cloud"], n["region"], n["arch"]) for n in nodes)
        out += ["", "## Nodes per cloud, region and arch", "", "| cloud | region | arch | nodes |", "| --- | --- | --- | --- |"]
        out += [f"| {c} | {r} | {a} | {k} |" for (c, r, a), k in sorted(counts.items())]
        out += [
            "",
            "## When userdata changes",
            "",
            "Machines are replaced create-before-delete (no `deleteBeforeReplace` anywhere), each with a new node "
            "identity: the new machine is created and its node must become Ready before the pool's readiness drains "
            "and deletes the old node and the old machine is destroyed, so capacity never drops. A boot-time machine "
            "is replaced exactly when its node identity is: when the *redacted* userdata hash or the cloud's "
            "force-new settings change.",
            "",
        ]
        effects = {p["cloud"]: p.get("onUserdataChange", "") for p in (run.export_value("nodes") or {}).values()}
        for cloud in sorted({n["cloud"] for n in nodes}):
            out.append(f"- {cloud}: {effects[cloud]}")
    if run.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in run.warnings]
    return "\n".join(out) + "\n"


def userdata_files(run: ProgramRun) -> dict[str, str]:
    """build/<stack>/-relative path -> redacted userdata of each pool (pool id shown as not known yet): one file per
    pool, since its machines' copies differ only by their node credentials, which are redacted."""
    userdata = displayed_export(run, "userdata") or {}
    files = {}
    for pool, u in userdata.items():
        text = u["redacted"]
        suffix = ".yaml" if text.startswith("#cloud-config") else ".sh"
        files[f"userdata/{pool}{suffix}"] = text
    return files


def write_outputs(run: ProgramRun, out_dir: pathlib.Path) -> list[pathlib.Path]:
    """Write the plan under out_dir/<stack>/ and remove everything an earlier plan (or diff) left there."""
    stack_dir = out_dir / run.stack
    files = {
        "plan.json": json.dumps(plan_document(run), indent=2, sort_keys=True) + "\n",
        "summary.md": summary_markdown(run),
        **userdata_files(run),
    }
    if stack_dir.exists():
        for path in sorted(stack_dir.rglob("*"), reverse=True):  # children before their directories
            rel = path.relative_to(stack_dir).as_posix()
            if path.is_dir() and not any(f.startswith(rel + "/") for f in files):
                shutil.rmtree(path)
            elif path.is_file() and rel not in files:
                path.unlink()
    written = []
    for rel, text in files.items():
        path = stack_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


# ---------------------------------------------------------------------------------------------------------------
# What make diff compares
# ---------------------------------------------------------------------------------------------------------------


def _secret_hashes(redacted: Any, raw: Any, key: bytes, path: str, out: dict[str, str]) -> None:
    """Keyed hashes (HMAC-SHA256, key used for one diff only) of every secret input: equal iff the value is."""
    if redacted == SECRET:
        digest = hmac.new(key, json.dumps(raw, sort_keys=True, default=str).encode(), hashlib.sha256).hexdigest()
        out[path] = digest
    elif isinstance(redacted, dict) and isinstance(raw, dict):
        for k, v in redacted.items():
            _secret_hashes(v, raw.get(k), key, f"{path}.{k}" if path else str(k), out)
    elif isinstance(redacted, list) and isinstance(raw, list):
        for i, (v, r) in enumerate(zip(redacted, raw)):
            _secret_hashes(v, r, key, f"{path}[{i}]", out)


def _producer(run: ProgramRun, value: Any) -> str:
    """The URN of the resource whose invented output `value` is ("" if none): a machine's replacement trigger is its
    NodeIdentity's node id, so the diff replaces the machine when that identity is created or replaced."""
    found: dict[str, str] = {}
    run.unknowns.mark(value, (), found, "trigger")
    return found.get("trigger", "")


def upgrade_settings(config: dict[str, str]) -> dict[str, dict]:
    """Per external pool of the stack file: provider, machine keys (on-prem host names) and `upgrade` settings, for
    make diff's account of how a join change rolls (tools/diff.py)."""
    try:
        pools = json.loads(config.get("kosmos:externalPools") or "[]")
    except ValueError:
        return {}
    return {
        p["name"]: {"provider": p.get("provider"), "hosts": [h.get("name") for h in p.get("hosts") or []],
                    "maxSurge": (p.get("upgrade") or {}).get("maxSurge"),
                    "maxUnavailable": (p.get("upgrade") or {}).get("maxUnavailable") or 1}
        for p in pools if isinstance(p, dict) and "name" in p
    }


def snapshot(run: ProgramRun, key: bytes, config: Optional[dict[str, str]] = None) -> dict:
    """Everything make diff compares, by URN. No secret value and no plain hash of one."""
    resources = {}
    for reg in run.registrations:
        inputs, found = displayed_inputs(run, reg)
        secrets: dict[str, str] = {}
        _secret_hashes({k: v for k, v in reg.inputs.items() if k != "__provider"}, reg.raw_inputs, key, "", secrets)
        resources[reg.urn] = {
            "type": reg.type,
            "name": reg.name,
            "parent": reg.parent,
            "custom": reg.custom,
            "inputs": inputs,
            "computed": found,
            "secrets": secrets,
            "dependencies": sorted(set(reg.dependencies).union(*reg.property_dependencies.values())),
            "replaceOnChanges": reg.replace_on_changes,
            "ignoreChanges": reg.ignore_changes,
            "replacementTrigger": reg.replacement_trigger,
            "replacementTriggerFrom": _producer(run, reg.replacement_trigger),
            "deleteBeforeReplace": reg.delete_before_replace,
        }
    userdata = displayed_export(run, "userdata") or {}
    return {
        "stack": run.stack,
        "resources": resources,
        "order": [r.urn for r in dependency_order(run)],
        "userdata": {pool: u["redacted"] for pool, u in userdata.items()},
        "pools": pool_rows(run),
        "upgrade": upgrade_settings(config or {}),
        "warnings": run.warnings,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="baremetal",
                        help="stack name: stacks/Pulumi.<stack>.yaml (default: baremetal, a multicloud stack)")
    parser.add_argument("--out", default=str(REPO / "build"), help="output directory (default: build/); '' = none")
    parser.add_argument("--repo", default=str(REPO), help="checkout whose program and stacks to plan (default: this)")
    parser.add_argument("--snapshot", help="also write make diff's snapshot here (hash key: hex on stdin)")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    args = parser.parse_args(argv)
    repo = pathlib.Path(args.repo).resolve()
    if repo != REPO:
        sys.path.insert(0, str(repo))  # its `components` (nothing imported them yet), these tools
    say = (lambda *a: None) if args.quiet else print
    stack_file = repo / "stacks" / f"Pulumi.{args.stack}.yaml"
    key = bytes.fromhex(sys.stdin.readline().strip()) if args.snapshot else b""
    if not stack_file.exists():
        if args.snapshot:  # a stack that does not exist at this revision: nothing to compare against
            pathlib.Path(args.snapshot).write_text(json.dumps({"stack": args.stack, "missing": True, "resources": {},
                                                               "order": [], "userdata": {}, "pools": []}))
            return 0
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (repo / "stacks").glob("Pulumi.*.yaml"))
        print(f"error: no stack file stacks/Pulumi.{args.stack}.yaml; known stacks: {', '.join(known)}",
              file=sys.stderr)
        return 2
    from components.spec import SpecError

    try:
        config, secret_keys = load_stack_config(args.stack, stack_file)
        run = run_program(args.stack, config=config, secret_keys=secret_keys, program=repo / "__main__.py")
    except SpecError as err:
        print(f"error: stacks/Pulumi.{args.stack}.yaml: {err}", file=sys.stderr)
        return 2
    except StackFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    say(f"kosmos offline plan for stack {args.stack!r} (mock engine: no credentials, no cloud calls)\n")
    say(render_tree(run))
    say()
    say("\n".join(summary_lines(run)))
    for warning in run.warnings:
        say(f"warning: {warning}")
    if args.out:
        written = write_outputs(run, pathlib.Path(args.out))
        say(f"\nwrote {len(written)} files under {pathlib.Path(args.out) / args.stack}")
    if args.snapshot:
        pathlib.Path(args.snapshot).write_text(json.dumps(snapshot(run, key, config), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
