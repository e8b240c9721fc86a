"""The `kosmos` distribution: built from a clean checkout, installed into a fresh virtualenv, used by a program in a
directory outside the repository, on the mock engine; its registration provider unpickled by Pulumi's real dynamic
provider host process. Also: the join renderer imports without Pulumi.

The fresh virtualenv reuses this environment's installed packages (Pulumi and the providers) through a .pth file
instead of downloading them again, so only the wheel itself is installed into it (pip `--no-index`: nothing is
fetched, and pip still checks that every declared dependency is present).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from conftest import REPO
from dynamic_host import component_plugin, diff, dynamic_host
from pulumi.runtime.proto import provider_pb2
from tools.engine import run_program

pytestmark = pytest.mark.slow

IDENTITY = "pulumi-python:dynamic/kosmos:NodeIdentity"

CONSUMER = """\
import pulumi

from {package} import MulticloudCluster

lab = MulticloudCluster("lab", {{
    "cluster": {{"name": "lab", "region": "fr-par", "version": "1.31"}},
    "externalPools": [
        {{"name": "edge", "provider": "civo", "region": "LON1", "size": "g4s.medium", "count": 1}},
        {{"name": "metal", "provider": "scaleway-elastic-metal", "zone": "fr-par-2", "offer": "EM-A115X-SSD",
         "osVersion": "22.04 LTS (Jammy Jellyfish)", "count": 1}},
    ],
}})
pulumi.export("userdata", lab.userdata)
"""

# Runs in the fresh virtualenv, in the consumer's directory: the program on the mock engine (the tools package loaded
# from its directory under another name, so the repository itself is not importable), then a report of what it saw.
RUNNER = """\
import importlib, importlib.util, json, pathlib, sys

tools = pathlib.Path(sys.argv[1]).parent
spec = importlib.util.spec_from_file_location("kosmos_test_tools", tools / "__init__.py",
                                              submodule_search_locations=[str(tools)])
sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sys.modules[spec.name])
engine = importlib.import_module("kosmos_test_tools.engine")
run = engine.run_program("lab", config={}, program=pathlib.Path("__main__.py").resolve())

import kosmos
print(json.dumps({
    "kosmos": kosmos.__file__,
    "components": importlib.util.find_spec("components") is not None,
    "userdata": run.export_value("userdata"),
    "providers": [r.raw_inputs["__provider"] for r in run.by_type(sys.argv[2])],
    "props": [{k: v for k, v in r.raw_inputs.items() if k != "__provider"} for r in run.by_type(sys.argv[2])],
}))
"""


def clean_checkout(dest: pathlib.Path) -> pathlib.Path:
    """The files a clone of this branch would have (tracked, plus new files not ignored): no .venv, no build/."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest


def fresh_venv(path: pathlib.Path) -> pathlib.Path:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, timeout=60)
    python = path / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # This environment's packages (Pulumi, the providers), not the repository: kosmos must come from the wheel.
    pathlib.Path(site, "reuse-test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def clean_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


@pytest.fixture(scope="session")
def installed(tmp_path_factory):
    """(python of a fresh virtualenv with the kosmos wheel installed, the wheel), built once per test run: pytest-xdist
    workers of one run share it (their run id and the base temp directory's parent are common), under a lock."""
    import importlib.util

    assert importlib.util.find_spec("kosmos") is None, "kosmos is installed in the test environment itself"
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is None:
        return build_and_install(tmp_path_factory.mktemp("package"))
    root = tmp_path_factory.getbasetemp().parent / f"kosmos-package-{run_id}"
    root.mkdir(exist_ok=True)
    with open(root / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / "done").exists():
            build_and_install(root)
            (root / "done").write_text("")
    return root / "venv" / "bin" / "python", next((root / "dist").glob("kosmos-*.whl"))


def build_and_install(root: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    src = clean_checkout(root / "src")
    dist = root / "dist"
    # The build backend pinned in pyproject.toml, in pip's isolated build environment (from pip's cache offline).
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(src)],
                           capture_output=True, text=True, timeout=180)
    assert build.returncode == 0, build.stderr
    [wheel] = dist.glob("kosmos-*.whl")
    python = fresh_venv(root / "venv")
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-index", "-q",
                              str(wheel)], capture_output=True, text=True, timeout=120)
    assert install.returncode == 0, install.stderr
    return python, wheel


def test_wheel_holds_the_package_the_templates_and_the_runtime_pins(installed):
    _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert "kosmos/__init__.py" in names and "kosmos/clouds/civo.py" in names
    templates = sorted(p.name for p in (REPO / "templates" / "join").glob("*.j2"))
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("kosmos/templates/join/")) == templates
    assert not [n for n in names if n.startswith(("components/", "tests/", "tools/", "stacks/"))]
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    requires = sorted(line.split(": ", 1)[1].lower() for line in metadata.splitlines()
                      if line.startswith("Requires-Dist"))
    # requirements.txt pins the package's runtime first, then (after its "Repository tools only" line) what only the
    # repository's own tools need: the wheel must carry exactly the first part.
    runtime = (REPO / "requirements.txt").read_text().split("# --- Repository tools only", 1)[0]
    pins = sorted(line.strip().lower() for line in runtime.splitlines() if line.strip() and not line.startswith("#"))
    assert requires == pins, "pyproject.toml dependencies and requirements.txt (runtime part) disagree"


def test_consumer_program_outside_the_repo_renders_userdata_and_registers_nodes(installed, tmp_path):
    python, _ = installed
    consumer = tmp_path / "consumer"
    consumer.mkdir()
    (consumer / "__main__.py").write_text(CONSUMER.format(package="kosmos"))
    (consumer / "runner.py").write_text(RUNNER)
    proc = subprocess.run([str(python), "runner.py", str(REPO / "tools" / "engine.py"), IDENTITY],
                          cwd=consumer, env=clean_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert pathlib.Path(seen["kosmos"]).is_relative_to(python.parent.parent), seen["kosmos"]
    assert seen["components"] is False  # the repository is nowhere on that program's path

    # The same program against this checkout's `components` renders the same userdata: the installed package
    # found its templates (a script for Civo, cloud-config for Elastic Metal).
    (tmp_path / "in_repo.py").write_text(CONSUMER.format(package="components"))
    reference = run_program("lab", config={}, program=tmp_path / "in_repo.py").export_value("userdata")
    assert seen["userdata"] == reference
    assert seen["userdata"]["edge"]["redacted"].startswith("#!/usr/bin/env bash")
    assert seen["userdata"]["metal"]["redacted"].startswith("#cloud-config")
    assert "REDACTED-NODE-CREDENTIALS" in seen["userdata"]["edge"]["redacted"]

    # The node identity provider, pickled by reference to the installed package, loads in Pulumi's dynamic provider
    # host started from that environment, in the consumer's directory.
    blobs = set(seen["providers"])
    assert len(seen["providers"]) == 2 and len(blobs) == 1
    [blob] = blobs
    pickled = base64.b64decode(blob)
    assert b"kosmos.identity" in pickled and b"components" not in pickled
    with dynamic_host(str(python), consumer, env=clean_env()) as host:
        answer = diff(host, blob, seen["props"][0])
    assert answer.changes == answer.DIFF_NONE

    # And it needs the package: a host whose Python lacks kosmos fails to unpickle it (so the check above can fail).
    with dynamic_host(sys.executable, consumer, env=clean_env()) as host:
        with pytest.raises(Exception, match="No module named 'kosmos'"):
            diff(host, blob, seen["props"][0])


def test_component_plugin_serves_the_committed_schema(installed, tmp_path):
    """provider/__main__.py, run as Pulumi runs a plugin, with the installed kosmos: GetSchema answers exactly the
    committed provider/schema.json (which `make schema` writes from the same inference)."""
    python, _ = installed
    with component_plugin(str(python), REPO / "provider", tmp_path, env=clean_env()) as plugin:
        served = plugin.GetSchema(provider_pb2.GetSchemaRequest(version=0), timeout=60).schema
    assert json.loads(served) == json.loads((REPO / "provider" / "schema.json").read_text())


@pytest.mark.parametrize("module, provider, props", [
    ("identity", "NodeIdentityProvider", {"region": "fr-par", "pool_id": "fr-par/p", "pool_name": "p", "machine": "m",
                                          "generation": "abc123", "stale": ""}),
    ("pool_nodes", "PoolNodesProvider", {"cluster_id": "fr-par/c", "region": "fr-par", "pool_id": "fr-par/p",
                                         "pool_name": "p", "members": []}),
])
def test_providers_from_the_repository_load_in_the_dynamic_host(module, provider, props):
    """The repository's own program imports `components`: its providers are pickled by reference to that module and
    load in the host the CLI starts in the project directory."""
    import importlib

    from components.scaleway_api import serialized

    blob = serialized(getattr(importlib.import_module(f"components.{module}"), provider))
    assert f"components.{module}".encode() in base64.b64decode(blob)
    with dynamic_host(sys.executable, REPO, env=clean_env()) as host:
        answer = diff(host, blob, props)
    assert answer.changes == answer.DIFF_NONE


def test_join_renderer_imports_without_pulumi(tmp_path):
    """`from kosmos.userdata import render` (here: components.userdata) must not import Pulumi: the README promises
    a plain-Python renderer. A Pulumi import is made to fail, as if it were not installed."""
    blocker = tmp_path / "pulumi"
    blocker.mkdir()
    (blocker / "__init__.py").write_text("raise ImportError('pulumi is not installed here')\n")
    code = (
        "from components.userdata import JoinInputs, render\n"
        "from components import catalog, spec\n"
        "from components.userdata import node_credentials\n"
        "r = render(JoinInputs(pool_id='fr-par/11111111-2222-3333-4444-555555555555', region='fr-par'),"
        " node_credentials('https://u', 'k'))\n"
        "import sys; assert 'pulumi' not in sys.modules\n"
        "print(r.sha256)\n"
    )
    env = {**clean_env(), "PYTHONPATH": f"{tmp_path}{os.pathsep}{REPO}"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip()) == 64
    # The blocker works: the package's components do need Pulumi.
    proc = subprocess.run([sys.executable, "-c", "from components import MulticloudCluster"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert "pulumi is not installed here" in proc.stderr


def test_the_installed_kosmos_command_runs_status_from_the_package(installed, tmp_path):
    """`kosmos status` (pyproject.toml [project.scripts]) runs components/status.py as kosmos.status, outside the
    repository: here up to its first input, an outputs file without a cluster."""
    python, _ = installed
    command = python.parent / "kosmos"
    assert command.exists(), "the wheel installs no `kosmos` console script"
    (tmp_path / "outputs.json").write_text("{}")
    run = subprocess.run([str(command), "status", "--stack", "dev", "--outputs", "outputs.json"], cwd=tmp_path,
                         env=clean_env(), capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout) == (2, "")
    assert "status: the stack outputs have no clusterId, poolIds" in run.stderr
    usage = subprocess.run([str(command)], cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert usage.returncode == 2 and "usage: kosmos status --stack <stack>" in usage.stderr
