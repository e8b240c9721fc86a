"""Structural properties of a large declaration (N = 50 external nodes over Civo, Equinix Metal and on-prem): the
deployment graph stays shallow and no node waits on another. Timing is the benchmark's job (make bench), not this."""

from __future__ import annotations

import subprocess
import sys

from conftest import REPO
from tools.bench import bench_config
from tools.engine import flatten_config, run_program
from tools.graph import critical_path, custom_dependencies, reachable

# A machine and its node identity. Label patches wait for their pool's readiness (one resource for every machine of
# the pool, components/pool_nodes.py), so they are left out here.
NODE_TYPES = ("civo:index/instance:Instance", "equinix-metal:index/device:Device", "command:remote:Command",
              "pulumi-python:dynamic/kosmos:NodeIdentity")


def _run(nodes):
    config, secret_keys = flatten_config(bench_config(nodes))
    return run_program("bench", config=config, secret_keys=secret_keys)


def test_critical_path_is_at_most_seven_and_resources_per_node_are_constant():
    small, large = _run(20), _run(50)
    # cluster -> pool -> pool version -> node identity -> machine -> pool readiness -> label patch. On-prem rollout
    # gates order their hosts but do nothing on creation (tools/graph.py FREE_ON_CREATE).
    assert len(critical_path(large)) <= 7
    chain = [large.by_urn()[u].type for u in critical_path(large)]
    assert chain[-5:-2] == ["pulumi-python:dynamic/kosmos:PoolVersion", "pulumi-python:dynamic/kosmos:NodeIdentity",
                            chain[-3]] and chain[-3] in NODE_TYPES
    assert chain[-2:] == ["pulumi-python:dynamic/kosmos:PoolNodes", "kubernetes:core/v1:NodePatch"]

    def per_node_count(run, n):  # an on-prem host also has its rollout gate
        hosts = sum(1 for r in run.custom() if r.type == "command:remote:Command")
        gates = sum(1 for r in run.custom() if r.name.endswith("-rollout"))
        assert gates == hosts > 0
        return len(run.custom()) - 3 * n - gates

    fixed_small, fixed_large = per_node_count(small, 20), per_node_count(large, 50)
    # Per node: machine, node identity, label patch (readiness is per pool), and a gate per on-prem host; the rest
    # is per pool (pool, version, readiness, the on-prem tail gate): one more pool at most.
    assert fixed_large - fixed_small <= 4


def test_no_dependency_between_two_nodes():
    run = _run(50)
    graph = custom_dependencies(run)
    by_urn = run.by_urn()
    node_of = {}
    for reg in run.custom():
        if reg.type in NODE_TYPES:
            # <pool>-nodes-<key>[-identity] -> <pool>-<key>
            node_of[reg.urn] = reg.name.replace("-nodes-", "-").removesuffix("-identity")
    assert len(set(node_of.values())) == 50
    gate = "pulumi-python:dynamic/kosmos:RolloutGate"
    for urn, node in node_of.items():
        for dep in reachable(graph, urn):
            if node_of.get(dep, node) == node:
                continue
            # The one exception: an on-prem host's Command follows its pool's rollout gates, which carry the earlier
            # hosts' node names, so it waits for their identities (never their joins); creating a gate does nothing.
            assert by_urn[urn].type == "command:remote:Command" and by_urn[dep].type.endswith(":NodeIdentity"), \
                f"{by_urn[urn].name} depends on {by_urn[dep].name}"
            assert any(by_urn[g].type == gate for g in graph[urn]), f"{by_urn[urn].name} reaches {dep} not by a gate"


def test_a_thousand_dynamic_resources_register_in_one_process():
    # pulumi.dynamic re-serialises the provider per resource and leaks a pickle patch each time (RecursionError
    # near 1,000 resources); NodeIdentity serialises once. Run in a fresh process: the leak is process-wide.
    code = (
        "from tools.engine import run_program\n"
        "prog = 'import pulumi\\nfrom components.identity import NodeIdentity, NodeIdentityArgs\\n'"
        " + 'for i in range(1200):\\n    NodeIdentity(f\"r{i}\", NodeIdentityArgs(region=\"fr-par\","
        " pool_id=\"p\", pool_name=\"p\", machine=str(i), generation=\"g\"))\\n'\n"
        "import pathlib, tempfile\n"
        "d = pathlib.Path(tempfile.mkdtemp()); (d / 'prog.py').write_text(prog)\n"
        "run = run_program('many', config={}, secret_keys=[], program=d / 'prog.py')\n"
        "print(len(run.custom()))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == "1200"
