"""Dependency-graph helpers over recorded registrations (used by tests and the benchmark)."""

from __future__ import annotations

import functools

from tools.engine import ProgramRun


def custom_dependencies(run: ProgramRun) -> dict[str, set[str]]:
    """URN -> URNs of the custom resources it depends on (explicit depends_on and input dependencies)."""
    custom = {r.urn for r in run.custom()}
    graph: dict[str, set[str]] = {}
    for reg in run.custom():
        deps = set(reg.dependencies)
        for urns in reg.property_dependencies.values():
            deps.update(urns)
        graph[reg.urn] = {d for d in deps if d in custom and d != reg.urn}
    return graph


FREE_ON_CREATE = ("pulumi-python:dynamic/kosmos:RolloutGate",)
"""Resources whose create calls nothing and returns at once (components/rollout.py; tests/test_rollout.py
test_creating_gates_waits_for_nothing_and_calls_nothing): links of the creation graph, no step of its length."""


def critical_path(run: ProgramRun, free: tuple[str, ...] = FREE_ON_CREATE) -> list[str]:
    """The longest chain of dependent custom resources, as URNs from first to last; resources of a `free` type order
    the chain but do not count (nor appear) in it."""
    graph = custom_dependencies(run)
    types = {r.urn: r.type for r in run.custom()}

    @functools.lru_cache(maxsize=None)
    def longest(urn: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for dep in graph[urn]:
            chain = longest(dep)
            if len(chain) > len(best):
                best = chain
        return best if types[urn] in free else best + (urn,)

    return list(max((longest(u) for u in graph), key=len, default=()))


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen
