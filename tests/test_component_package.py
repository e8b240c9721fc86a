"""The kosmos component package (provider/): its schema as the Pulumi SDK infers it, checked against Pulumi's
package metaschema, kept in step with the stack-config rules, and its construct path run on the mock engine."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
import typing

import jsonschema
import pytest

from components import args as kargs
from components import model
from conftest import REPO
from tools.engine import run_program
from tools.schema import COMMITTED, infer_schema, render

METASCHEMA = REPO / "tests" / "fixtures" / "pulumi-package.metaschema.json"
CONSTRUCT = REPO / "tests" / "programs" / "component_construct.py"
RESOURCE = "kosmos:index:MulticloudCluster"


def metaschema_validator() -> jsonschema.Draft202012Validator:
    # The metaschema's patterns are ECMA-262 regexes; the only construct Python's `re` spells differently is the
    # named group, `(?<name>` -> `(?P<name>` (semver pattern of `version`).
    text = re.sub(r"\(\?<([A-Za-z]+)>", r"(?P<\1>", METASCHEMA.read_text())
    return jsonschema.Draft202012Validator(json.loads(text))


@pytest.fixture(scope="module")
def schema() -> dict:
    return infer_schema()


def test_schema_is_valid_against_pulumis_package_metaschema(schema):
    validator = metaschema_validator()
    assert [e.message for e in validator.iter_errors(schema)] == []
    # The validator does reject what Pulumi rejects.
    assert list(validator.iter_errors({**schema, "name": "9kosmos"}))
    assert list(validator.iter_errors({**schema, "version": "one"}))
    broken = json.loads(json.dumps(schema))
    broken["resources"][RESOURCE]["inputProperties"]["equinixProjectId"]["type"] = "uuid"
    assert list(validator.iter_errors(broken))


def test_schema_names_the_package_and_the_component_inputs(schema):
    assert schema["name"] == "kosmos"
    import components

    assert schema["version"] == components.__version__
    resource = schema["resources"][RESOURCE]
    assert resource["isComponent"] is True
    inputs = resource["inputProperties"]
    assert {"cluster", "scalewayPools", "externalPools"} <= set(inputs)
    assert resource["requiredInputs"] == ["cluster"]
    assert inputs["cluster"]["$ref"] == "#/types/kosmos:index:ClusterConfig"
    assert inputs["scalewayPools"]["items"]["$ref"] == "#/types/kosmos:index:ScalewayPoolConfig"
    assert inputs["externalPools"]["items"]["$ref"] == "#/types/kosmos:index:ExternalPoolConfig"
    # Values must be known when the component is constructed (it validates before registering anything), so
    # every input is plain except the secret SSH key.
    assert [k for k, v in inputs.items() if not v.get("plain")] == ["sshPrivateKey"]
    provider = schema["types"]["kosmos:index:ExternalPoolProvider"]
    assert [e["value"] for e in provider["enum"]] == ["civo", "scaleway-elastic-metal", "on-prem", "equinix-metal"]
    assert set(resource["properties"]) == {"clusterId", "apiserverUrl", "kubeconfig", "poolIds", "nodes", "userdata"}
    assert schema["types"]["kosmos:index:ScalewayPoolConfig"]["required"] == ["name", "nodeType", "size"]
    assert schema["types"]["kosmos:index:ClusterConfig"]["properties"]["region"]["description"].startswith(
        "Scaleway region"
    )


def test_committed_schema_is_current(schema):
    assert COMMITTED.read_text() == render(schema), "provider/schema.json is stale: run `make schema`"


def test_make_schema_writes_build_schema_json(tmp_path):
    out = tmp_path / "schema.json"
    stack_out = tmp_path / "kosmos-config.schema.json"
    proc = subprocess.run([sys.executable, "-m", "tools.schema", "--out", str(out), "--stack-out", str(stack_out)],
                          cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text()) == infer_schema()
    from components import model

    assert json.loads(stack_out.read_text()) == model.stack_file_schema()


# -- the typed args mirror the typed config model (components/model.py), the one source of the stack shape -------

def _kind(tp) -> object:
    """What a value of an args or model annotation is, comparable across both: a nested TypedDict/model is returned
    as itself (to be compared key by key), lists as ("list", item kind)."""
    from enum import Enum

    from pydantic import BaseModel

    tp = model._unwrap(tp, [], [])
    origin = typing.get_origin(tp)
    if origin is list:
        return ("list", _kind(typing.get_args(tp)[0]))
    if origin is dict:
        return ("dict", _kind(typing.get_args(tp)[1]))
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        arms = typing.get_args(tp)
        if all(isinstance(a, type) and issubclass(a, BaseModel) for a in arms):
            return arms  # the external pools' union on `provider`
        return "any"  # pulumi.Input[str]: a secret Output or a str
    if isinstance(tp, type) and issubclass(tp, Enum):
        return str
    if tp is typing.Any:
        return "any"
    return tp


def _model_fields(models) -> tuple[dict, set]:
    """{alias: annotation} and the required aliases of a model, or of a union's members merged (`provider` apart)."""
    members = models if isinstance(models, tuple) else (models,)
    fields: dict = {}
    required = None
    for m in members:
        for name, f in m.model_fields.items():
            fields.setdefault(f.alias or name, f.annotation)
        req = {f.alias or n for n, f in m.model_fields.items() if f.is_required()}
        required = req if required is None else required & req
    return fields, required


def _compare(typed: type, models, path: str, seen: list) -> None:
    import pulumi

    seen.append(typed.__name__)
    hints = typing.get_type_hints(typed, localns={"Output": pulumi.Output, "T": str})
    fields, required = _model_fields(models)
    if typed is kargs.ClusterConfig:
        # privateNetworkId is in the model only to be refused with a reason (Kosmos clusters take no private network).
        fields.pop("privateNetworkId")
    assert set(hints) == set(fields), f"{path}: args {sorted(hints)} vs model {sorted(fields)}"
    assert set(typed.__required_keys__) == required, f"{path}: required keys differ"
    for key, annotation in hints.items():
        a, m = _kind(annotation), _kind(fields[key])
        if isinstance(a, tuple) and a[0] == "list":
            assert isinstance(m, tuple) and m[0] == "list", f"{path}.{key}"
            a, m = a[1], m[1]
        if typing.is_typeddict(a):
            _compare(a, m, f"{path}.{key}", seen)
        elif key == "provider":
            assert {e.value for e in kargs.ExternalPoolProvider} == set(model.PROVIDER_MODELS)
        elif m != "any" and key != "sshPrivateKey":
            assert a == m, f"{path}.{key}: args {a} vs model {m}"


def test_generated_args_are_current():
    """components/args.py is generated from the config model (`make schema`): never edited by hand."""
    from tools import argsgen

    assert argsgen.OUT.read_text() == argsgen.render(), "components/args.py is stale: run `make schema`"


def test_readme_config_reference_is_current(monkeypatch):
    """The README's config reference table is generated from the config model (`make schema`), between its markers:
    the committed region is a fresh generation, and it reads each description from the model (a changed description
    makes the committed table stale)."""
    from tools import argsgen

    committed = argsgen.readme_region(argsgen.README.read_text())
    assert committed == argsgen.render_reference(), "README.md's config reference is stale: run `make schema`"
    assert "| `kosmos:externalPools[].sshKeyId` (civo) | string | – | Civo SSH key id put on the instances. |" in committed

    monkeypatch.setattr(model.CivoPoolModel.model_fields["ssh_key_id"], "description", "A changed description.")
    fresh = argsgen.render_reference()
    assert fresh != committed
    assert "| `kosmos:externalPools[].sshKeyId` (civo) | string | – | A changed description. |" in fresh


def test_typed_args_mirror_the_config_model():
    """components/args.py is what Pulumi's analyzer reads (it cannot read pydantic models or unions); the generator
    must give it exactly the model's keys, required keys and value kinds, all the way down."""
    seen: list = []
    _compare(kargs.MulticloudClusterArgs, model.KosmosConfig, "kosmos", seen)
    assert {"ClusterConfig", "AutoUpgradeConfig", "MaintenanceWindowConfig", "ScalewayPoolConfig", "TaintConfig",
            "ExternalPoolConfig", "RegistrationConfig", "OnPremHostConfig", "JoinConfig", "AgentSha256Config",
            "LatencyProbeConfig"} <= set(seen)


def test_the_mirror_check_can_fail(monkeypatch):
    monkeypatch.setitem(kargs.OnPremHostConfig.__annotations__, "hostKeys", str)
    with pytest.raises(AssertionError, match="hosts"):
        _compare(kargs.MulticloudClusterArgs, model.KosmosConfig, "kosmos", [])


def keys(typed: type) -> set[str]:
    return set(typed.__annotations__)


def test_output_types_match_what_the_component_exports(stack_run):
    run = stack_run("blog")
    nodes = run.export_value("nodes")
    assert nodes
    for pool in nodes.values():
        assert set(pool) == keys(kargs.PoolNodes)
        for machine in pool["machines"]:
            assert set(machine) == keys(kargs.NodeSummary)
    for userdata in run.export_value("userdata").values():
        assert set(userdata) == keys(kargs.PoolUserdata)


# -- construct: the component package's path gives the Python API's resources ------------------------------------

SECRET_SIG = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"}
"""pulumi.runtime.rpc's marker of a secret value on the wire (_special_sig_key: _special_secret_sig)."""

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAID5yEeJSf7HZqv2bqSgyRCXjmc64ws1dvNmDfVql10iV"
WIRE = {
    "cluster": {"name": "lab", "region": "nl-ams", "version": "1.36.1"},
    "scalewayPools": [{"name": "gpu", "nodeType": "L4-1-24G", "size": 1, "zone": "nl-ams-2",
                       "labels": {"team": "ml"}}],
    "externalPools": [
        {"name": "edge", "provider": "civo", "region": "FRA1", "size": "g4s.medium", "count": 2,
         "taints": [{"key": "edge", "effect": "NoSchedule"}], "registration": {"timeoutMinutes": 20}},
        {"name": "rack", "provider": "on-prem", "hosts": [{"name": "h1", "address": "192.0.2.10", "port": 2222,
                                                             "hostKey": HOST_KEY}]},
    ],
    "sshPrivateKey": {**SECRET_SIG, "value": "-----BEGIN OPENSSH PRIVATE KEY-----\nlab\n"},
}


def run_component(mode: str, wire: dict, **config):
    config = {"lab:mode": mode, "lab:inputs": json.dumps(wire), **config}
    return run_program("lab", config=config, program=CONSTRUCT, raise_errors=False)


def comparable(run) -> list[tuple]:
    # Sorted: registrations arrive in asyncio order.
    return sorted((r.urn, r.type, r.parent, json.dumps(r.inputs, sort_keys=True), sorted(r.secret_paths))
                  for r in run.registrations)


def test_construct_registers_what_the_python_api_registers():
    from pulumi.runtime import rpc

    assert SECRET_SIG == {rpc._special_sig_key: rpc._special_secret_sig}
    constructed = run_component("construct", WIRE)
    assert constructed.error is None, constructed.error
    python = run_component("python", WIRE)
    assert python.error is None, python.error
    assert comparable(constructed) == comparable(python)
    types = [r.type for r in constructed.registrations]
    assert types.count("civo:index/instance:Instance") == 2
    assert types.count("command:remote:Command") == 1
    assert RESOURCE in types
    # The int the wire carries as a double reached the spec as an int, the enum as its value.
    pools = {r.name: r for r in constructed.by_type("scaleway:kubernetes/pool:Pool")}
    assert pools["lab-gpu-pool"].inputs["size"] == 1 and pools["lab-gpu-pool"].inputs["zone"] == "nl-ams-2"
    assert pools["lab-edge-pool"].inputs["size"] == 2 and pools["lab-edge-pool"].inputs["nodeType"] == "external"
    # The secret SSH key stayed secret through the construct path.
    [command] = constructed.by_type("command:remote:Command")
    assert "connection" in command.secret_paths and command.raw_inputs["connection"]["privateKey"].endswith("lab\n")
    # The component's outputs, as the package returns them to the calling program.
    exports = constructed.exports
    assert exports["kubeconfig"].secret is True
    assert exports["clusterId"].value.startswith("nl-ams/")
    assert set(exports["userdata"].value) == {"edge", "rack"}
    assert "REDACTED-NODE-CREDENTIALS" in exports["userdata"].value["edge"]["redacted"]
    assert exports["nodes"].value["edge"]["machines"][0]["machine"] == "edge-0"
    assert exports["poolIds"].value.keys() == {"gpu", "edge", "rack"}


def test_construct_takes_scaleway_api_url_from_the_calling_stacks_config():
    # A ConstructRequest carries the stack's config (pulumi proto/pulumi/provider.proto ConstructRequest.config; the
    # SDK's server applies it with set_all_config): the plugin passes `scaleway:apiUrl` to the component, so the
    # agent (SCW_API_URL) and the registrations use it for programs in every language.
    url = "https://api.scaleway.example.test"
    run = run_component("construct", WIRE, **{"scaleway:apiUrl": url})
    assert run.error is None, run.error
    kinds = ("NodeIdentity", "PoolNodes", "PoolVersion", "RolloutGate")
    dynamic = [r for kind in kinds for r in run.by_type(f"pulumi-python:dynamic/kosmos:{kind}")]
    assert dynamic and all(r.inputs["api_url"] == url for r in dynamic)
    for userdata in run.exports["userdata"].value.values():
        assert f"API_URL={url}\n" in userdata["redacted"]
    # Without it, the agent's own default applies.
    plain = run_component("construct", WIRE)
    unset = [r for kind in kinds for r in plain.by_type(f"pulumi-python:dynamic/kosmos:{kind}")]
    assert unset and all(r.inputs.get("api_url") is None for r in unset)


def test_construct_with_a_bad_config_registers_nothing_and_names_the_key():
    bad = json.loads(json.dumps(WIRE))
    bad["scalewayPools"][0]["zone"] = "nl-ams"
    run = run_component("construct", bad)
    assert run.error is not None
    assert 'kosmos:scalewayPools[0].zone: "nl-ams" is not a zone' in str(run.error)
    assert [r for r in run.registrations if r.type != "pulumi:pulumi:Stack"] == []


def test_plugin_directory_is_a_python_component_package():
    import yaml

    plugin = REPO / "provider"
    assert yaml.safe_load((plugin / "PulumiPlugin.yaml").read_text())["runtime"]["name"] == "python"
    main = (plugin / "__main__.py").read_text()
    assert "component_provider_host(COMPONENTS, name=NAME" in main and 'NAME = "kosmos"' in main
    # Its requirements install this repository (the kosmos distribution), resolved from the plugin directory.
    [requirement] = [line for line in (plugin / "requirements.txt").read_text().splitlines()
                     if line.strip() and not line.startswith("#")]
    assert 'name = "kosmos"' in ((plugin / requirement).resolve() / "pyproject.toml").read_text()
