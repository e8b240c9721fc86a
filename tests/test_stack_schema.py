"""The stack files' JSON Schema (stacks/kosmos-config.schema.json), generated from the typed config model
(components/model.py): committed and current, named by every stack file's modeline, valid for every committed
stack, and refusing the type-level mistakes of the bad-config matrix at their key paths."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from components import model
from conftest import REPO, STACKS
from test_config_errors import CASES
from tools.schema import STACK_SCHEMA, render

MODELINE = "# yaml-language-server: $schema=kosmos-config.schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(STACK_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_committed_stack_schema_is_current():
    assert STACK_SCHEMA.read_text() == render(model.stack_file_schema()), (
        "stacks/kosmos-config.schema.json is stale: run `make schema`"
    )


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_names_the_schema_and_validates(validator, stack):
    text = (REPO / "stacks" / f"Pulumi.{stack}.yaml").read_text()
    assert text.splitlines()[0] == MODELINE
    doc = yaml.safe_load(text)
    assert [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)] == []
    # `secure:` is where secrets go: the schema takes it there, and only there.
    if "kosmos:sshPrivateKey" in doc["config"]:
        assert set(doc["config"]["kosmos:sshPrivateKey"]) == {"secure"}
    assert list(validator.iter_errors({"config": {**doc["config"], "kosmos:cluster": {"secure": "AAAA"}}}))


def test_other_namespaces_are_free_and_unknown_kosmos_keys_are_not(validator):
    base = yaml.safe_load((REPO / "stacks" / "Pulumi.dev.yaml").read_text())
    other = {"config": {**base["config"], "scaleway:region": "fr-par", "civo:token": {"secure": "x"}}}
    assert list(validator.iter_errors(other)) == []
    unknown = {"config": {**base["config"], "kosmos:clusters": {}}}
    assert list(validator.iter_errors(unknown))


def _path(kosmos_path: str) -> tuple:
    """`kosmos:externalPools[4].hosts[0].port` -> ("config", "kosmos:externalPools", 4, "hosts", 0, "port")."""
    head, _, rest = kosmos_path.partition(".")
    top = re.match(r"([^\[]+)((\[\d+\])*)$", head)
    parts: list = ["config", top[1], *(int(n) for n in re.findall(r"\d+", top[2]))]
    for part in filter(None, rest.split(".")):
        name, *indexes = re.split(r"\[(\d+)\]", part)
        parts += [name, *(int(i) for i in indexes if i)]
    return tuple(parts)


def _errors(errors):
    """Every error, with the errors of each oneOf branch (the external pools' union on `provider`)."""
    for error in errors:
        yield error
        yield from _errors(error.context or [])


# Type-level mistakes from the bad-config matrix: a wrong type, an unknown key, a bad enum value, a bound.
TYPE_LEVEL = {
    "wrong type": ["version-unquoted-number", "pool-size-string", "external-pools-not-a-list",
                   "latency-probe-not-a-mapping", "latency-probe-enabled-string", "latency-probe-interval-text",
                   "host-key-skip-not-bool", "ssh-key-in-plaintext"],
    "unknown key": ["cluster-unknown-key", "top-level-unknown-key", "pool-unknown-key", "civo-unknown-key",
                    "agent-sha-unknown-arch", "agent-unknown-field", "registration-unknown-key",
                    "latency-probe-unknown-key"],
    "bad enum": ["region-unknown", "type-kapsule", "maintenance-day", "pool-taint-effect", "provider-unknown",
                 "civo-size-unknown", "equinix-os-unknown", "em-arch", "pool-zone-is-a-region"],
    "bound or pattern": ["pool-negative-size", "onprem-port", "civo-count-zero", "maintenance-hour",
                         "civo-region-format", "agent-url-scheme", "cluster-tag-too-long", "onprem-hosts-empty"],
}


@pytest.mark.parametrize(
    "case_id", [pytest.param(c, id=f"{kind}-{c}") for kind, cases in TYPE_LEVEL.items() for c in cases]
)
def test_type_level_bad_configs_fail_the_schema_at_their_key_path(validator, case_id):
    [(raw, expected)] = [(raw, exp) for i, raw, exp in CASES if i == case_id]
    kosmos_path = expected.split(": ", 1)[0]
    errors = list(_errors(validator.iter_errors({"config": raw})))
    assert errors, f"{case_id}: the schema accepts it"
    paths = {tuple(e.absolute_path) for e in errors}
    if ": unknown key" in expected:
        # additionalProperties (or propertyNames at the top) reports on the mapping holding the key, naming it.
        key = _path(kosmos_path)[-1] if "." in kosmos_path else kosmos_path
        parent = _path(kosmos_path)[:-1] if "." in kosmos_path else ("config",)
        assert any(tuple(e.absolute_path) == parent and repr(key) in e.message for e in errors), paths
    elif case_id == "provider-unknown":
        assert _path(kosmos_path)[:-1] in paths  # the union's branches all refuse the pool
        assert any(e.validator == "const" and tuple(e.absolute_path) == _path(kosmos_path) for e in errors), paths
    else:
        assert _path(kosmos_path) in paths, paths


def test_the_schema_check_can_fail(validator):
    """The path test above against a schema that lost a rule: the case goes through."""
    schema = json.loads(STACK_SCHEMA.read_text())
    del schema["definitions"]["ScalewayPoolModel"]["properties"]["size"]["type"]
    weaker = jsonschema.Draft7Validator(schema)
    [raw] = [raw for i, raw, _ in CASES if i == "pool-size-string"]
    assert list(validator.iter_errors({"config": raw}))
    assert not list(weaker.iter_errors({"config": raw}))
