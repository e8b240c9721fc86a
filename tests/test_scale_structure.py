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


def test_critical_path_is_at_most_six_and_resources_per_node_are_constant():
    small, large = _run(20), _run(50)
    assert len(critical_path(large)) <= 6
    chain = [large.by_urn()[u].type for u in critical_path(large)]
    assert chain[-4:-2] == ["pulumi-python:dynamic/kosmos:NodeIdentity", chain[-3]] and chain[-3] in NODE_TYPES
    assert chain[-2:] == ["pulumi-python:dynamic/kosmos:PoolNodes", "kubernetes:core/v1:NodePatch"]
    per_node = (len(large.custom()) - len(small.custom())) / 30
    assert per_node == 3  # machine, node identity, label patch (readiness is per pool)
    fixed_small = len(small.custom()) - 3 * 20
    fixed_large = len(large.custom()) - 3 * 50
    assert fixed_large - fixed_small <= 2  # per-pool resources only (one more pool at most)


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
    for urn, node in node_of.items():
        for dep in reachable(graph, urn):
            assert node_of.get(dep, node) == node, f"{by_urn[urn].name} depends on {by_urn[dep].name}"


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
