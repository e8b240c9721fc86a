"""`make plan`: what `pulumi up` would create for a stack, computed offline.

    python -m tools.plan [--stack dev] [--out build]

Runs the real __main__.py against stacks/Pulumi.<stack>.yaml on the SDK's mock engine (tools/engine.py), prints a
resource tree and a summary, and writes build/<stack>/plan.json, build/<stack>/summary.md and the redacted join
userdata of every node under build/<stack>/userdata/<pool>/. Secrets are printed and written as "[secret]".
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from collections import Counter
from typing import Any

from components import catalog
from components.spec import SpecError

from .engine import REPO, SECRET, ProgramRun, StackFileError, run_program

# The inputs worth a glance in the tree, per resource type (others: the first few scalar inputs).
KEY_INPUTS: dict[str, tuple[str, ...]] = {
    "scaleway:kubernetes/cluster:Cluster": ("name", "region", "version", "type", "cni"),
    "scaleway:kubernetes/pool:Pool": ("name", "nodeType", "size", "zone", "region"),
    "scaleway:iam/policy:Policy": ("name", "rules"),
    "scaleway:iam/apiKey:ApiKey": ("expiresAt",),
    "civo:index/instance:Instance": ("hostname", "region", "size", "script"),
    "civo:index/firewall:Firewall": ("name", "region", "createDefaultRules"),
    "equinix-metal:index/device:Device": ("hostname", "metro", "plan", "operatingSystem", "userData"),
    "scaleway:elasticmetal/server:Server": ("hostname", "zone", "offer", "cloudInit"),
    "command:remote:Command": ("create", "stdin", "triggers"),
    "pulumi-python:dynamic/kosmos:NodeRegistration": ("machine", "matchIp", "matchName", "wait", "timeoutSeconds"),
    "kubernetes:core/v1:NodePatch": ("metadata",),
    "pulumi:providers:kubernetes": ("kubeconfig",),
}


def _short(value: Any, limit: int = 70) -> str:
    if value == SECRET:
        return SECRET
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(p.title() for p in rest)


def render_tree(run: ProgramRun) -> str:
    children: dict[str, list] = {}
    # Registration order depends on asyncio scheduling: sort so the same stack always prints the same tree.
    for reg in sorted(run.registrations, key=lambda r: (r.custom, r.name)):
        children.setdefault(reg.parent, []).append(reg)
    root_urns = {r.parent for r in run.registrations} - {r.urn for r in run.registrations}
    lines: list[str] = []

    def walk(urn: str, depth: int) -> None:
        for reg in children.get(urn, []):
            inputs = {_camel(k): v for k, v in reg.inputs.items()}
            wanted = KEY_INPUTS.get(reg.type)
            if wanted is None:
                wanted = tuple(k for k, v in inputs.items() if isinstance(v, (str, int, bool)) and k != "__provider")[:4]
            shown = ", ".join(f"{k}={_short(inputs[k])}" for k in wanted if inputs.get(k) not in (None, "", [], {}))
            flags = []
            if reg.replace_on_changes:
                flags.append(f"replaceOnChanges={reg.replace_on_changes}")
            if reg.replacement_trigger is not None:
                flags.append(f"replaced when userdata sha256 changes ({_short(reg.replacement_trigger, 12)})")
            if reg.protect:
                flags.append("protect")
            suffix = f"  {shown}" if shown else ""
            suffix += f"  [{'; '.join(flags)}]" if flags else ""
            lines.append(f"{'  ' * depth}+ {reg.type} {reg.name}{suffix}")
            walk(reg.urn, depth + 1)

    for urn in sorted(root_urns):
        walk(urn, 0)
    return "\n".join(lines)


def plan_document(run: ProgramRun) -> dict:
    def redact(export):
        return SECRET if export.secret else export.value

    return {
        "stack": run.stack,
        "resources": [r.to_json() for r in sorted(run.registrations, key=lambda r: r.urn)],
        "outputs": {name: redact(e) for name, e in sorted(run.exports.items())},
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


def summary_lines(run: ProgramRun) -> list[str]:
    nodes = node_rows(run)
    pools = run.by_type("scaleway:kubernetes/pool:Pool")
    scw = [p for p in pools if p.inputs.get("nodeType") != catalog.EXTERNAL_NODE_TYPE]
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


def summary_markdown(run: ProgramRun) -> str:
    nodes = node_rows(run)
    cluster = run.by_type("scaleway:kubernetes/cluster:Cluster")[0].inputs
    out = [
        f"# kosmos plan: stack `{run.stack}`",
        "",
        f"Cluster `{cluster.get('name')}`: {cluster.get('type')} in {cluster.get('region')}, Kubernetes "
        f"{cluster.get('version')}, CNI {cluster.get('cni')}.",
        "",
        "## Pools",
        "",
        "| pool | kind | location | nodes |",
        "| --- | --- | --- | --- |",
    ]
    for pool in sorted(run.by_type("scaleway:kubernetes/pool:Pool"), key=lambda r: r.inputs["name"]):
        p = pool.inputs
        if p.get("nodeType") == catalog.EXTERNAL_NODE_TYPE:
            labels = p.get("labels", {})
            out.append(f"| {p['name']} | external ({labels.get('cloud')}) | {labels.get('cloud-region')} | {p['size']} |")
        else:
            out.append(f"| {p['name']} | Scaleway {p['nodeType']} | {p['zone']} | {p['size']} |")
    if nodes:
        out += [
            "",
            "## External nodes",
            "",
            "| pool | machine | cloud | region | arch | labels | userdata sha256 | on userdata change |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for n in nodes:
            labels = ", ".join(f"{k}={v}" for k, v in sorted(n["labels"].items()))
            out.append(
                f"| {n['pool']} | {n['machine']} | {n['cloud']} | {n['region']} | {n['arch']} | {labels} | "
                f"`{n['userdataSha256'][:12]}` | {n['onUserdataChange']} |"
            )
        counts = Counter((n["cloud"], n["region"], n["arch"]) for n in nodes)
        out += ["", "## Nodes per cloud, region and arch", "", "| cloud | region | arch | nodes |", "| --- | --- | --- | --- |"]
        out += [f"| {c} | {r} | {a} | {k} |" for (c, r, a), k in sorted(counts.items())]
        out += [
            "",
            "## When userdata changes",
            "",
            "Machines are replaced create-before-delete (no `deleteBeforeReplace` on machines or registrations): the "
            "new machine is created and its node must register and become Ready before the old machine's node is "
            "deleted and the old machine destroyed, so capacity never drops. Replacement follows the *redacted* "
            "userdata hash: rotating the join key changes no hash and replaces nothing.",
            "",
        ]
        for cloud in sorted({n["cloud"] for n in nodes}):
            out.append(f"- {cloud}: {catalog.USERDATA_CHANGE_EFFECT[cloud]}")
    if run.warnings:
        out += ["", "## Warnings", ""] + [f"- {w}" for w in run.warnings]
    return "\n".join(out) + "\n"


def write_outputs(run: ProgramRun, out_dir: pathlib.Path) -> list[pathlib.Path]:
    stack_dir = out_dir / run.stack
    stack_dir.mkdir(parents=True, exist_ok=True)
    written = []
    plan_path = stack_dir / "plan.json"
    plan_path.write_text(json.dumps(plan_document(run), indent=2, sort_keys=True) + "\n")
    written.append(plan_path)
    summary_path = stack_dir / "summary.md"
    summary_path.write_text(summary_markdown(run))
    written.append(summary_path)
    userdata = run.export_value("userdata") or {}
    for node in node_rows(run):
        text = userdata[node["pool"]]["redacted"]
        suffix = ".yaml" if text.startswith("#cloud-config") else ".sh"
        path = stack_dir / "userdata" / node["pool"] / f"{node['machine']}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="dev", help="stack name: stacks/Pulumi.<stack>.yaml (default: dev)")
    parser.add_argument("--out", default=str(REPO / "build"), help="output directory (default: build/)")
    args = parser.parse_args(argv)
    stack_file = REPO / "stacks" / f"Pulumi.{args.stack}.yaml"
    if not stack_file.exists():
        known = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml"))
        print(f"error: no stack file {stack_file.relative_to(REPO)}; known stacks: {', '.join(known)}", file=sys.stderr)
        return 2
    try:
        run = run_program(args.stack)
    except SpecError as err:
        print(f"error: stacks/Pulumi.{args.stack}.yaml: {err}", file=sys.stderr)
        return 2
    except StackFileError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"kosmos offline plan for stack {args.stack!r} (mock engine: no credentials, no cloud calls)\n")
    print(render_tree(run))
    print()
    print("\n".join(summary_lines(run)))
    for warning in run.warnings:
        print(f"warning: {warning}")
    written = write_outputs(run, pathlib.Path(args.out))
    print(f"\nwrote {len(written)} files under {pathlib.Path(args.out) / args.stack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
