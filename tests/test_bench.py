"""The benchmark's validity (make bench): its floor really is the same resource set, and its report is computed from
what it measured. No timing assertions: timing is measured by `make bench`, never asserted."""

from __future__ import annotations

import pytest

from tools import bench
from tools.engine import flatten_config


def test_the_floor_registers_exactly_the_programs_resources_types_names_and_parents():
    config, secret_keys = flatten_config(bench.bench_config(12))
    program = bench._program_run(config, secret_keys, record=True)
    floor = bench._floor_run(bench._shape(program), record=True)

    def tree(run):  # registration order is the event loop's, so compare the set of (type, name, custom, parent)
        names = {r.urn: r.name for r in run.registrations}
        return sorted((r.type, r.name, r.custom, names.get(r.parent, "")) for r in run.registrations)

    assert tree(floor) == tree(program)
    assert len(program.custom()) > 3 * 12
    # and nothing more: the floor sets no dependencies and has no exports (its inputs are trivial)
    assert all(not r.dependencies for r in floor.registrations)
    assert floor.stack_outputs().outputs == {}


def test_the_bench_config_spreads_nodes_over_three_clouds_in_pools_of_at_most_fifty():
    pools = bench.bench_config(bench.MAX_BENCH_NODES)["kosmos:externalPools"]
    sizes = {}
    for pool in pools:
        size = len(pool["hosts"]) if pool["provider"] == "on-prem" else pool["count"]
        assert 0 < size <= bench.POOL_SIZE, pool["name"]
        sizes[pool["provider"]] = sizes.get(pool["provider"], 0) + size
    assert sizes == {"civo": 167, "equinix-metal": 166, "on-prem": 166}


def test_the_largest_bench_stack_is_one_the_program_accepts():
    """The bench measures the largest stack a cluster takes; one node more is refused by the node limit."""
    from components.spec import SpecError, parse_spec

    def spec_of(nodes):
        config = {k.split(":", 1)[1]: v for k, v in bench.bench_config(nodes).items()}
        config["sshPrivateKey"] = "-----BEGIN OPENSSH PRIVATE KEY-----\nbench\n-----END OPENSSH PRIVATE KEY-----\n"
        return parse_spec(config, stack="bench")

    assert sum(p.machine_count for p in spec_of(bench.MAX_BENCH_NODES).external_pools) == bench.MAX_BENCH_NODES
    with pytest.raises(SpecError, match="takes at most 500 nodes"):
        spec_of(bench.MAX_BENCH_NODES + 1)


def test_a_small_measurement_reports_what_it_measured():
    result = bench.measure(10, runs=3)
    # 3 fixed (cluster, provider, system pool), 3 pools with 3 readiness and 3 pool versions, 1 firewall, 3 per node
    # (machine, identity, label patch), and the 3 on-prem hosts' rollout gates plus their pool's tail; the path
    # cluster, pool, pool version, identity, machine, readiness, label patch (gates cost nothing on creation).
    assert result["resources"] == 47 and result["critical_path"] == 7
    assert len(result["program_runs_seconds"]) == len(result["floor_runs_seconds"]) == 3
    # seconds are reported rounded, the ratio from the unrounded medians
    assert abs(result["time_ratio"] - result["program_seconds"] / result["floor_seconds"]) < 0.01
    assert result["calls_ratio"] == round(result["program_python_calls"] / result["floor_python_calls"], 3)
    assert result["memory_ratio"] == round(result["program_peak_bytes"] / result["floor_peak_bytes"], 3)
    # the program does more than the floor (real inputs, dependencies, exports): calls are deterministic
    assert result["program_python_calls"] > result["floor_python_calls"] > 0
    assert 0 < result["render_ms_per_node"] < 1


def test_the_convergence_measurement_reports_what_it_measured():
    from tools.bench_converge import converge

    lines = []
    result = converge(6, pool_size=4, latency=0.0, boot=(0.05, 0.1), ready=0.05, poll=0.05, progress=lines.append)
    assert (result["nodes"], result["pools"]) == (6, 2)
    # Two calls per identity (auth_external_node, the metadata GET), then one list per pool per round.
    assert result["requests"] == 2 * 6 + result["list_requests"] and result["list_requests"] >= 2
    assert result["requests_per_node"] == round(result["requests"] / 6, 2)
    assert len([line for line in lines if "Ready (" in line]) == 2  # progress, per pool


def test_the_convergence_measurement_counts_faulted_requests_as_requests():
    from tools.bench_converge import converge

    result = converge(4, pool_size=4, latency=0.0, boot=(0.05, 0.1), ready=0.05, poll=0.05, faults=0.3, seed=2,
                      progress=lambda _: None)
    # Every faulted answer was retried (the wait still returned) and costs one more request.
    assert result["faulted_requests"] > 0
    assert result["requests"] == 2 * 4 + result["list_requests"] + result["faulted_requests"]
