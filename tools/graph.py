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


def critical_path(run: ProgramRun) -> list[str]:
    """The longest chain of dependent custom resources, as URNs from first to last."""
    graph = custom_dependencies(run)

    @functools.lru_cache(maxsize=None)
    def longest(urn: str) -> tuple[str, ...]:
        best: tuple[str, ...] = ()
        for dep in graph[urn]:
            chain = longest(dep)
            if len(chain) > len(best):
                best = chain
        return best + (urn,)

    return list(max((longest(u) for u in graph), key=len, default=()))


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for dep in graph.get(todo.pop(), ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen
