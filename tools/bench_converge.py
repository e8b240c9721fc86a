"""`make bench`, convergence part: N simulated machines against the local Kosmos stand-in (tests/kosmos_api.py)
with realistic delays, driven through the real NodeIdentity and PoolNodes providers with at most 4 calls at once,
as Pulumi's dynamic provider host serves them (pulumi 3.272 pulumi/dynamic/__main__.py, max_workers=4).

Each machine's identity is created (two API calls), its machine boots `boot` seconds later (uniform in the given
range; the cloud's part, unbounded in Pulumi), the node is Ready `ready` seconds after its kubelet first reaches the
cluster; each pool's PoolNodes create is queued behind the identities as soon as its own identities exist. A share
of all API calls (`faults`, default none here, 10% from `make bench`) is answered 429 (`Retry-After: 1`) or 503, as
a loaded API answers, and retried by the providers' policy (components/retry.py). Reports the seconds until every
pool's wait returned, the API requests per node (every attempt, the faulted ones included), and the polling rounds.
A benchmark: it measures, it asserts nothing.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import io
import random
import sys
import threading
import time

from .engine import REPO

HOST_WORKERS = 4


def _stand_in():
    sys.path.insert(0, str(REPO / "tests"))
    from kosmos_api import LocalKosmos  # noqa: E402 (the tests' stand-in, written from Scaleway's source)
    from loopback import Faults  # noqa: E402

    return LocalKosmos, Faults


def converge(nodes: int, pool_size: int = 50, latency: float = 0.05, boot: tuple[float, float] = (1.0, 3.0),
             ready: float = 2.0, poll: float = 1.0, seed: int = 1, faults: float = 0.0, progress=print) -> dict:
    with contextlib.redirect_stderr(io.StringIO()):  # the providers' per-node progress lines, at N = 500
        return _converge(nodes, pool_size, latency, boot, ready, poll, seed, faults, progress)


def _converge(nodes, pool_size, latency, boot, ready, poll, seed, faults, progress) -> dict:
    from pulumi.dynamic import Config, ConfigureRequest

    from components.identity import NodeIdentityProvider
    from components.pool_nodes import PoolNodesProvider

    rng = random.Random(seed)
    secret = "44444444-4444-4444-8444-444444444444"
    stand_in, fault_plan = _stand_in()
    with stand_in(operator_secret=secret, latency_seconds=latency, ready_seconds=ready,
                  default_page_size=100) as kosmos:
        kosmos.faults = fault_plan(share=faults, kinds=(429, 503), retry_after="1", seed=seed)
        config = ConfigureRequest(config=Config(raw_config={"scaleway:accessKey": "SCWABCDEFGHIJKLMNOPQ",
                                                            "scaleway:secretKey": secret,
                                                            "scaleway:apiUrl": kosmos.url}, project_name="bench"))
        identities, pools = NodeIdentityProvider(), PoolNodesProvider()
        identities.configure(config)
        pools.configure(config)
        sizes = [min(pool_size, nodes - i) for i in range(0, nodes, pool_size)]
        pool_records = [kosmos.add_pool(f"p{i}", size=size) for i, size in enumerate(sizes)]
        timers: list[threading.Timer] = []
        members: dict[int, list] = {i: [] for i in range(len(sizes))}
        done_pools: list[float] = []
        lock = threading.Lock()
        started = time.monotonic()

        def wait_pool(index: int) -> None:
            pool = pool_records[index]
            pools.create({"cluster_id": f"fr-par/{kosmos.cluster_id}", "region": "fr-par",
                          "pool_id": f"fr-par/{pool.id}", "pool_name": pool.name, "members": members[index],
                          "wait": True, "timeout_seconds": 600, "poll_seconds": poll, "skip_drain": True})
            with lock:
                done_pools.append(time.monotonic() - started)
                progress(f"  converge {nodes}: pool {pool.name} Ready ({len(done_pools)}/{len(sizes)}) after "
                         f"{done_pools[-1]:.1f}s")

        with concurrent.futures.ThreadPoolExecutor(max_workers=HOST_WORKERS) as host:
            def create_identity(index: int, n: int) -> None:
                pool = pool_records[index]
                outs = identities.create({"region": "fr-par", "pool_id": f"fr-par/{pool.id}", "pool_name": pool.name,
                                          "machine": f"{pool.name}-{n}", "generation": "g"}).outs
                timer = threading.Timer(rng.uniform(*boot), kosmos.boot, (outs["node_id"],))
                timer.start()
                with lock:
                    timers.append(timer)
                    members[index].append({"machine": outs["machine"], "node_id": outs["node_id"],
                                           "node_name": outs["node_name"]})
                    complete = len(members[index]) == sizes[index]
                if complete:  # the pool's machines exist: the engine registers its readiness next
                    host.submit(wait_pool, index)

            futures = [host.submit(create_identity, i, n) for i, size in enumerate(sizes) for n in range(size)]
            concurrent.futures.wait(futures)
            registered = time.monotonic() - started
            with lock:  # one line at a time: the pools' waits report from the host's threads
                progress(f"  converge {nodes}: {nodes} identities registered after {registered:.1f}s")
            while len(done_pools) < len(sizes):
                time.sleep(0.05)
        total = time.monotonic() - started
        for t in timers:
            t.join()
        with kosmos.lock:
            requests = list(kosmos.requests)
        faulted = len(kosmos.faults.injected)
    lists = sum(1 for m, p, q in requests if m == "GET" and p.endswith("/nodes"))
    return {
        "nodes": nodes,
        "pools": len(sizes),
        "converge_seconds": round(total, 2),
        "identities_seconds": round(registered, 2),
        "slowest_machine_seconds": round(boot[1] + ready, 2),
        "requests": len(requests) + faulted,
        "faulted_requests": faulted,
        "requests_per_node": round((len(requests) + faulted) / nodes, 2),
        "list_requests": lists,
        "delays": {"api_seconds": latency, "boot_seconds": list(boot), "ready_seconds": ready, "poll_seconds": poll},
        "fault_share": faults,
    }
