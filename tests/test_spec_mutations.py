"""parse_spec on odd values: a deterministic sweep of mutations of the committed stacks (every key path of each
stack's `kosmos:*` config set to each odd value, deleted, given a non-string key; every pool duplicated). Each
mutation either parses or raises SpecError whose every problem starts with `kosmos:`; never another exception."""

from __future__ import annotations

import copy
import datetime as dt

import pytest

from components.spec import SpecError, parse_spec
from conftest import stack_config

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
ODD = (
    None, [], {}, [None], [[1]], [{}], {1: "a"}, {None: 1}, {"a": None}, {"": ""}, 0, -1, 10**30, -(10**30), 1.5,
    float("nan"), float("inf"), True, False, "true", "yes", "", " ", "é中", "\x00", "a\nb", "x" * 5000,
    dt.datetime(2030, 1, 1), dt.date(2030, 1, 1), b"bytes", (1, 2), {"secure": "AAA"}, ["a", None],
)
STACKS = ("dev", "blog", "baremetal")


def _kosmos(stack: str) -> dict:
    cfg = {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("kosmos:")}
    cfg.setdefault("sshPrivateKey", "-----BEGIN OPENSSH PRIVATE KEY-----\n")  # a secret in the file: a str here
    return cfg


def _paths(value, prefix=()):
    if prefix:
        yield prefix
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*prefix, key))


def _mutations(base: dict):
    """(label, config) pairs."""
    for value in ODD:
        yield f"root={value!r:.20}", value
    for path in _paths(base):
        *parents, last = path
        for op in (*ODD, "delete", "int-key", "duplicate"):
            cfg = copy.deepcopy(base)
            target = cfg
            for key in parents:
                target = target[key]
            if op == "delete":
                del target[last]
            elif op == "int-key":
                if not isinstance(target[last], dict):
                    continue
                target[last][7] = "x"
            elif op == "duplicate":
                if not isinstance(target[last], list):
                    continue
                target[last] = target[last] + copy.deepcopy(target[last])
            else:
                target[last] = copy.deepcopy(op)
            yield f"{'.'.join(map(str, path))}:{op!r:.20}", cfg


@pytest.mark.parametrize("stack", STACKS)
def test_every_mutation_parses_or_names_its_key_path(stack):
    outcomes = {"parsed": 0, "refused": 0}
    crashes, unprefixed = [], []
    for label, cfg in _mutations(_kosmos(stack)):
        try:
            parse_spec(cfg, stack="test", now=NOW)
            outcomes["parsed"] += 1
        except SpecError as err:
            outcomes["refused"] += 1
            unprefixed += [f"{label}: {p}" for p in err.problems if not p.startswith("kosmos:")]
            assert err.problems, label
        except Exception as err:  # noqa: BLE001 - the point of the test
            crashes.append(f"{label}: {type(err).__name__}: {err}")
    assert not crashes, "\n".join(crashes[:20])
    assert not unprefixed, "\n".join(unprefixed[:20])
    # The sweep really ran: most mutations break the stack, and some (a deleted optional key) keep it valid.
    assert outcomes["refused"] > 500 and outcomes["parsed"] > 10, outcomes


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        # YAML reads `7: x` and `null: x` as non-string keys: the key is named, not "Keys should be strings".
        (lambda c: c["cluster"].update({7: "x"}), "kosmos:cluster.7: key 7 is not a string; quote it, or remove it"),
        (lambda c: c["cluster"].update({"version": ["1.31"]}),
         'kosmos:cluster.version: expected a string (a Kubernetes version like "1.31" or "1.31.2"); got [\'1.31\']'),
        (lambda c: c["cluster"].update({"version": 131}),
         'kosmos:cluster.version: 131 is a number; quote the version, e.g. version: "1.31"'),
    ],
)
def test_odd_values_read_as_kosmos_messages(mutate, expected):
    cfg = _kosmos("dev")
    mutate(cfg)
    with pytest.raises(SpecError) as err:
        parse_spec(cfg, stack="test", now=NOW)
    assert expected in err.value.problems
