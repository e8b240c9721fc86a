"""`make bench`: what declaring N external nodes costs, against the Pulumi SDK's own floor.

For N in (10, 100, 499) it generates a stack config with N external nodes spread over Civo, Equinix Metal and
on-prem pools, runs the real __main__.py on the SDK's mock engine, and in the same process setup a floor program
(tools/bench_floor.py) registering exactly the same resources (types, count, parents) with trivial inputs and no
logic. Several runs each, medians reported. Writes build/bench.json. A benchmark, not a test: it measures.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import math
import os
import pathlib
import pstats
import statistics
import subprocess
import sys
import time
import tracemalloc

from components import catalog
from components.userdata import JoinInputs, node_credentials, personalize, render, render_redacted

from .engine import REPO, flatten_config, run_program
from .graph import critical_path

FLOOR = REPO / "tools" / "bench_floor.py"
POOL_SIZE = 50
# The largest cluster Scaleway offers (multicloud-dedicated-16, components/catalog.py) less the system pool's node:
# the program refuses more, as it should, so that is the largest stack worth measuring.
BENCH_CLUSTER_TYPE = "multicloud-dedicated-16"
MAX_BENCH_NODES = catalog.CLUSTER_NODE_LIMITS[BENCH_CLUSTER_TYPE] - 1
PROVIDERS = ("civo", "equinix-metal", "on-prem")


# Pinned host keys are required (one example key for every bench host: only the program's cost is measured).
BENCH_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID5yEeJSf7HZqv2bqSgyRCXjmc64ws1dvNmDfVql10iV"


def bench_config(nodes: int) -> dict:
    """A stack config with `nodes` external nodes, a third per provider, in pools of at most POOL_SIZE."""
    per_provider = [nodes // 3 + (1 if i < nodes % 3 else 0) for i in range(3)]
    pools = []
    for provider, count in zip(PROVIDERS, per_provider):
        for p in range(math.ceil(count / POOL_SIZE)):
            size = min(POOL_SIZE, count - p * POOL_SIZE)
            name = f"{provider.split('-')[0]}-{p}"
            if provider == "civo":
                pools.append({"name": name, "provider": "civo", "region": "LON1", "size": "g3.medium", "count": size})
            elif provider == "equinix-metal":
                pools.append({"name": name, "provider": "equinix-metal", "metro": "da",
                              "plan": "c3.large.arm64" if p % 2 else "c3.small.x86", "count": size})
            else:
                pools.append({"name": name, "provider": "on-prem", "hosts": [
                    {"name": f"{name}-h{i}", "address": f"10.{p}.{i // 250}.{i % 250 + 1}", "user": "ubuntu",
                     "hostKey": BENCH_HOST_KEY}
                    for i in range(size)
                ]})
    return {
        "kosmos:cluster": {"region": "fr-par", "version": "1.31", "type": BENCH_CLUSTER_TYPE},
        "kosmos:scalewayPools": [{"name": "system", "nodeType": "DEV1-M", "size": 1}],
        "kosmos:externalPools": pools,
        "kosmos:equinixProjectId": "6f1c4b1e-3c2a-4d5e-9f60-7a8b9c0d1e2f",
        "kosmos:sshPrivateKey": {"secure": "offline"},
    }


def _program_run(config, secret_keys, record=False):
    # Timed runs use the SDK's plain MockMonitor: recording every request is the harness's cost, not the program's.
    return run_program("bench", config=config, secret_keys=secret_keys, record=record)


def _floor_run(shape, record=False):
    os.environ["KOSMOS_BENCH_FLOOR_SHAPE"] = json.dumps(shape)
    try:
        return run_program("bench", config={}, secret_keys=[], program=FLOOR, record=record)
    finally:
        del os.environ["KOSMOS_BENCH_FLOOR_SHAPE"]


def _shape(run) -> list:
    index = {r.urn: i for i, r in enumerate(run.registrations)}
    return [[r.type, r.name, r.custom, index.get(r.parent, -1)] for r in run.registrations]


def _timed(fn, *args):
    """(CPU seconds, wall seconds, result). The ratio that counts is wall time (what a user waits for). CPU time is
    reported too: the SDK's mock monitor works on executor threads, so it sums both cores."""
    gc.collect()
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn(*args)
    return time.process_time() - cpu, time.perf_counter() - wall, result


def _python_calls(fn, *args) -> int:
    """Python function calls of one run (cProfile's count): deterministic, so unlike wall time it does not move with
    the machine's load. Reported beside the time ratio to show where a change came from."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn(*args)
    finally:
        profiler.disable()
    return pstats.Stats(profiler).total_calls


def _peak_memory(kind: str, nodes: int) -> int:
    """Peak traced allocations of one run, in a fresh process (after a warm-up run there, so imports and template
    compilation are not counted), so the program and the floor never share a heap."""
    proc = subprocess.run(
        [sys.executable, "-m", "tools.bench", "--memory-of", kind, "--nodes", str(nodes)],
        cwd=REPO, capture_output=True, text=True, timeout=1800, check=True,
    )
    return int(proc.stdout.strip().splitlines()[-1])


def _memory_child(kind: str, nodes: int) -> int:
    config, secret_keys = flatten_config(bench_config(nodes))
    first = _program_run(config, secret_keys, record=True)
    run = (lambda: _program_run(config, secret_keys)) if kind == "program" else (lambda: _floor_run(_shape(first)))
    run()  # warm-up
    gc.collect()
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(nodes: int, runs: int) -> dict:
    config, secret_keys = flatten_config(bench_config(nodes))
    first = _program_run(config, secret_keys, record=True)  # warm-up; also the run the structure is read from
    shape = _shape(first)
    _floor_run(shape)
    program_times, floor_times, program_wall, floor_wall = [], [], [], []
    for _ in range(runs):  # interleaved, so drift hits both alike
        cpu, wall, _ = _timed(_program_run, config, secret_keys)
        program_times.append(cpu)
        program_wall.append(wall)
        cpu, wall, _ = _timed(_floor_run, shape)
        floor_times.append(cpu)
        floor_wall.append(wall)
    program_calls = _python_calls(_program_run, config, secret_keys)
    floor_calls = _python_calls(_floor_run, shape)
    program_mem = _peak_memory("program", nodes)
    floor_mem = _peak_memory("floor", nodes)
    custom = len(first.custom())
    pools = bench_config(nodes)["kosmos:externalPools"]
    inputs = [JoinInputs(pool_id=f"fr-par/{i:08d}-0000-4000-8000-000000000000", region="fr-par") for i in range(len(pools))]
    variants = ["cloud-config" if pool["provider"] == "equinix-metal" else "script" for pool in pools]
    credentials = node_credentials("https://api.scaleway.com/k8s/v1/regions/fr-par/node-metadata",
                                   "00000000-0000-4000-8000-000000000000")
    start = time.perf_counter()
    # What the program renders: the pool's template once, then every machine's copy with its node's credentials.
    templates = [render_redacted(inputs[i], variants[i]).redacted for i in range(len(pools))]
    for i in range(nodes):
        personalize(templates[i % len(pools)], variants[i % len(pools)], credentials)
    render_total = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(nodes):  # the cost if every node's template were rendered on its own (what kosmos avoids)
        render(inputs[i % len(inputs)], credentials, "script")
    render_each = (time.perf_counter() - start) / nodes
    p_med, f_med = statistics.median(program_wall), statistics.median(floor_wall)
    p_cpu, f_cpu = statistics.median(program_times), statistics.median(floor_times)
    return {
        "nodes": nodes,
        "runs": runs,
        "resources": custom,
        "registrations": len(first.registrations),
        "program_seconds": round(p_med, 4),
        "floor_seconds": round(f_med, 4),
        "time_ratio": round(p_med / f_med, 3),
        "program_cpu_seconds": round(p_cpu, 4),
        "floor_cpu_seconds": round(f_cpu, 4),
        "cpu_ratio": round(p_cpu / f_cpu, 3),
        "program_runs_seconds": [round(t, 3) for t in program_wall],
        "floor_runs_seconds": [round(t, 3) for t in floor_wall],
        "program_python_calls": program_calls,
        "floor_python_calls": floor_calls,
        "calls_ratio": round(program_calls / floor_calls, 3),
        "program_peak_bytes": program_mem,
        "floor_peak_bytes": floor_mem,
        "memory_ratio": round(program_mem / floor_mem, 3),
        "critical_path": len(critical_path(first)),
        "render_ms_per_node": round(render_total / nodes * 1000, 4),
        "render_ms_each": round(render_each * 1000, 4),
    }


def resources_per_node(results: list[dict]) -> float:
    a, b = results[0], results[-1]
    return (b["resources"] - a["resources"]) / (b["nodes"] - a["nodes"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="kosmos scale benchmark")
    parser.add_argument("--nodes", type=int, nargs="+", default=[10, 100, MAX_BENCH_NODES])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "build" / "bench.json"))
    parser.add_argument("--no-converge", dest="converge", action="store_false",
                        help="skip the convergence measurement against the local Kosmos stand-in")
    parser.add_argument("--faults", type=float, default=0.1, metavar="SHARE",
                        help="share of the stand-in's answers that are 429 (Retry-After: 1) or 503 during convergence "
                             "(default 0.1)")
    parser.add_argument("--converge-only", action="store_true",
                        help="only the convergence measurement (skip the mock-engine runs)")
    parser.add_argument("--memory-of", choices=("program", "floor"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if max(args.nodes) > MAX_BENCH_NODES:
        parser.error(f"--nodes: at most {MAX_BENCH_NODES} (a {BENCH_CLUSTER_TYPE} cluster takes "
                     f"{MAX_BENCH_NODES + 1} nodes, one of them the system pool's)")
    if args.memory_of:
        print(_memory_child(args.memory_of, args.nodes[0]))
        return 0
    results = []
    converge_at = [n for n in args.nodes if args.converge]
    if not args.converge_only:
        print(f"{'nodes':>6} {'resources':>9} {'program s':>10} {'floor s':>8} {'time x':>7} {'cpu x':>6} "
              f"{'calls x':>7} {'mem x':>6} {'path':>4} {'render ms/node':>14}")
    for n in [] if args.converge_only else args.nodes:
        r = measure(n, max(3, args.runs))
        results.append(r)
        print(f"{r['nodes']:>6} {r['resources']:>9} {r['program_seconds']:>10.3f} {r['floor_seconds']:>8.3f} "
              f"{r['time_ratio']:>7.3f} {r['cpu_ratio']:>6.3f} {r['calls_ratio']:>7.3f} {r['memory_ratio']:>6.3f} "
              f"{r['critical_path']:>4} "
              f"{r['render_ms_per_node']:>14.4f}")
    convergence = []
    if converge_at:
        from .bench_converge import converge

        print("convergence against the local Kosmos stand-in (4 provider calls at once, as Pulumi's dynamic host; "
              f"{args.faults:.0%} of answers 429/503):")
        for n in converge_at:
            c = converge(n, faults=args.faults)
            convergence.append(c)
            print(f"{c['nodes']:>6} nodes, {c['pools']} pools: Ready after {c['converge_seconds']:.1f}s (slowest machine "
                  f"{c['slowest_machine_seconds']:.1f}s; identities {c['identities_seconds']:.1f}s), "
                  f"{c['requests_per_node']:.2f} requests per node ({c['faulted_requests']} faulted and retried), "
                  f"{c['list_requests']} lists")
    summary = {"results": results, "resources_per_node": resources_per_node(results) if len(results) > 1 else None,
               "convergence": convergence, "python": sys.version.split()[0]}
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=2) + "\n")
    per_node = summary["resources_per_node"]
    print(f"resources per node: {'n/a (one N)' if per_node is None else f'{per_node:.2f}'}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
