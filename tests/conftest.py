"""Shared helpers. Every program run (tools.engine.run_program) gets its own fresh event loop."""

from __future__ import annotations

import copy
import functools
import pathlib
import sys

import pytest
import yaml

REPO = pathlib.Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tools.engine import flatten_config, run_program  # noqa: E402

STACKS = sorted(p.name[len("Pulumi."):-len(".yaml")] for p in (REPO / "stacks").glob("Pulumi.*.yaml"))


@functools.lru_cache(maxsize=None)
def _stack_run(stack: str):
    return run_program(stack)


@pytest.fixture(params=STACKS)
def any_stack_run(request):
    return _stack_run(request.param)


@pytest.fixture
def stack_run():
    """stack_run("blog") -> ProgramRun of the real program on the real stack file (cached per stack)."""
    return _stack_run


def stack_config(stack: str) -> dict:
    """The `config:` mapping of a stack file, as a fresh deep copy to mutate."""
    doc = yaml.safe_load((REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text())
    return copy.deepcopy(doc["config"])


def run_config(raw_config: dict, stack: str = "test", raise_errors: bool = False):
    """Run the real program with a `config:` mapping shaped like a stack file's."""
    config, secret_keys = flatten_config(raw_config)
    return run_program(stack, config=config, secret_keys=secret_keys, raise_errors=raise_errors)
