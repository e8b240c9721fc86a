"""The join template family: golden renders, shellcheck, Debian's `cloud-init schema`, size, redaction."""

from __future__ import annotations

import pathlib
import json
import re
import shlex
import shutil
import subprocess
import sys

import jinja2
import pytest
import yaml

from components import userdata as ud
from conftest import REPO
from tools import golden

SECRET = "7d3c1f2e-9b8a-4c6d-a5e4-f3b2c1d0e9f8"
METADATA_URL = "https://api.scaleway.com/k8s/v1/regions/fr-par/node-metadata"
# One machine's node credentials: what its NodeIdentity hands the userdata (k8s-agent's cache file content).
CREDENTIALS = ud.node_credentials(METADATA_URL, SECRET)
ENCODE = {"script": shlex.quote, "cloud-config": json.dumps}  # how each variant quotes them (components/userdata.py)
SHELLCHECK = pathlib.Path(sys.executable).parent / "shellcheck"
LONG_INPUTS = ud.JoinInputs(
    pool_id="fr-par/" + "f" * 36,
    region="fr-par",
    agent_base_url="https://" + "mirror." * 20 + "example/agents/" + "x" * 100,
    agent_sha256={"amd64": "a" * 64, "arm64": "b" * 64},
    allowed_os=("ubuntu:20.04", "ubuntu:22.04", "ubuntu:24.04", "debian:11", "debian:12") * 4,
    min_memory_mib=65536,
)


def every_rendering() -> dict[str, str]:
    """Every variant, with the real secret and redacted, plus the script embedded in each cloud-config."""
    out = {}
    for name, (inputs, variant) in golden.USERDATA_VARIANTS.items():
        if variant == "leave":
            out[name] = ud.render_leave(inputs)
            continue
        rendered = ud.render(inputs, CREDENTIALS, variant)
        out[f"{name} (secret)"] = rendered.text
        out[f"{name} (redacted)"] = rendered.redacted
    return out


def scripts() -> dict[str, str]:
    found = {}
    for name, text in every_rendering().items():
        if text.startswith("#cloud-config"):
            for f in yaml.safe_load(text)["write_files"]:
                if f["content"].startswith("#!"):
                    found[f"{name} -> {f['path']}"] = f["content"]
        else:
            found[name] = text
    return found


# --- golden files ---------------------------------------------------------------------------------------------


def test_golden_files_match_a_fresh_render():
    expected = golden.expected_files()
    committed = {p for p in (REPO / "tests" / "golden").rglob("*") if p.is_file()}
    assert committed == set(expected), "run `make golden` and commit the result"
    for path, text in expected.items():
        assert path.read_text() == text, f"{path.relative_to(REPO)} is stale: run `make golden` and review the diff"


def test_golden_userdata_is_redacted():
    for path in (REPO / "tests" / "golden").rglob("*"):
        if path.is_file() and path.suffix in (".sh", ".yaml"):
            text = path.read_text()
            if "leave" not in path.name:
                assert ud.REDACTED_SECRET in text, path


# --- real tools -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(scripts()))
def test_shellcheck_passes(name):
    result = subprocess.run(
        [str(SHELLCHECK), "--shell=bash", "--severity=style", "-"], input=scripts()[name], capture_output=True,
        text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout


def test_shellcheck_really_checks():
    bad = "#!/usr/bin/env bash\nrm -rf $1/*\n"
    result = subprocess.run([str(SHELLCHECK), "-"], input=bad, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SC2086" in result.stdout  # unquoted $1


def test_every_shellcheck_disable_says_why():
    for template in (REPO / "templates").rglob("*.j2"):
        lines = template.read_text().splitlines()
        for i, line in enumerate(lines):
            if "shellcheck disable" in line:
                assert i > 0 and lines[i - 1].strip().startswith("#") and "shellcheck" not in lines[i - 1], (
                    f"{template}:{i + 1}: explain the disabled check in a comment on the line above"
                )


def _cloud_init() -> str:
    path = shutil.which("cloud-init")
    assert path, "cloud-init is needed (make test installs it: apt-get install cloud-init)"
    return path


@pytest.mark.parametrize("name", sorted(n for n, t in every_rendering().items() if t.startswith("#cloud-config")))
def test_cloud_init_schema_accepts_the_cloud_config(name, tmp_path):
    path = tmp_path / "user-data.yaml"
    path.write_text(every_rendering()[name])
    result = subprocess.run([_cloud_init(), "schema", "--config-file", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_cloud_init_schema_really_rejects(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("#cloud-config\nwrite_files:\n  - path: /x\n    permissions: 600\n    bogus: 1\n")
    result = subprocess.run([_cloud_init(), "schema", "--config-file", str(path)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0


# --- renderer behaviour ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ud.VARIANTS)
def test_every_variant_stays_under_16_kib_even_with_long_inputs(variant):
    rendered = ud.render(LONG_INPUTS, CREDENTIALS, variant)
    assert len(rendered.text.encode()) <= 16 * 1024
    # Headroom for typical inputs under the hard 16 KiB: a machine's copy (with its ~140-byte node credentials) and
    # the agent run again on failure (issue 20) stay under 13 KiB.
    assert len(ud.render(golden.USERDATA_VARIANTS["script.sh"][0], CREDENTIALS, variant).text.encode()) < 13 * 1024


def test_oversized_userdata_is_refused():
    huge = ud.JoinInputs(pool_id="fr-par/x", region="fr-par", allowed_os=("ubuntu:22.04",) * 2000)
    with pytest.raises(ud.UserdataError, match="limit is 16384"):
        ud.render(huge, CREDENTIALS, "script")


@pytest.mark.parametrize("variant", ud.VARIANTS)
def test_redacted_rendering_differs_only_by_the_secret(variant):
    inputs = golden.USERDATA_VARIANTS["script.sh"][0]
    rendered = ud.render(inputs, CREDENTIALS, variant)
    assert SECRET in rendered.text and SECRET not in rendered.redacted
    assert ud.REDACTED_SECRET in rendered.redacted
    encode = ENCODE[variant]
    assert rendered.text.replace(encode(CREDENTIALS), encode(ud.REDACTED_SECRET)) == rendered.redacted
    assert rendered.sha256 == ud.sha256_hex(rendered.redacted)


@pytest.mark.parametrize("variant", ud.VARIANTS)
def test_one_render_per_pool_and_each_machine_gets_only_its_own_node(variant):
    # What the program does: the pool's template once, then a substitution per machine.
    pool = ud.render_redacted(golden.USERDATA_VARIANTS["script.sh"][0], variant).redacted
    secrets = [f"{i:08d}-0000-4000-8000-000000000000" for i in range(50)]
    copies = [ud.personalize(pool, variant, ud.node_credentials(METADATA_URL, s)) for s in secrets]
    for i, text in enumerate(copies):
        assert [s for s in secrets if s in text] == [secrets[i]]
        assert ud.REDACTED_SECRET not in text
    # The agent's cache, as the machine gets it, is exactly k8s-agent's UserData JSON (metadata.go).
    if variant == "cloud-config":
        [cache] = [f for f in yaml.safe_load(copies[0])["write_files"] if f["path"] == "/etc/scw-k8s-userdata"]
        assert cache["permissions"] == "0600" and cache["owner"] == "root:root"
        assert json.loads(cache["content"]) == {"metadata_url": METADATA_URL, "node_secret_key": secrets[0]}


def test_hash_ignores_the_node_but_follows_every_real_change():
    inputs = golden.USERDATA_VARIANTS["script.sh"][0]
    base = ud.render(inputs, CREDENTIALS, "script").sha256
    assert ud.render(inputs, ud.node_credentials(METADATA_URL, "another-node"), "script").sha256 == base
    changed = [
        ud.JoinInputs(pool_id="fr-par/other", region="fr-par"),
        ud.JoinInputs(pool_id=inputs.pool_id, region="nl-ams"),
        ud.JoinInputs(pool_id=inputs.pool_id, region="fr-par", min_memory_mib=4096),
        ud.JoinInputs(pool_id=inputs.pool_id, region="fr-par", agent_sha256={"arm64": "c" * 64}),
    ]
    assert len({ud.render(i, CREDENTIALS, "script").sha256 for i in changed} | {base}) == len(changed) + 1


def test_pool_id_is_rendered_as_the_bare_uuid():
    text = ud.render(ud.JoinInputs(pool_id="nl-ams/1234abcd-0000-0000-0000-000000000000", region="nl-ams"),
                     CREDENTIALS).text
    assert "POOL_ID=1234abcd-0000-0000-0000-000000000000\n" in text
    assert "nl-ams/1234abcd" not in text


def test_agent_url_and_pins_are_rendered():
    text = ud.render(golden.USERDATA_VARIANTS["script-pinned-mirror.sh"][0], CREDENTIALS).text
    assert "AGENT_BASE_URL=https://mirror.example.internal/kosmos\n" in text
    assert f"AGENT_SHA256_AMD64={'1' * 64}\n" in text and f"AGENT_SHA256_ARM64={'2' * 64}\n" in text
    assert "MIN_MEMORY_MIB=4096\n" in text


def test_templates_refuse_undefined_variables():
    env = ud._environment()
    assert env.undefined is jinja2.StrictUndefined
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("join/join.sh.j2").render(region="fr-par")


def test_empty_or_placeholder_secrets_are_refused():
    inputs = golden.USERDATA_VARIANTS["script.sh"][0]
    with pytest.raises(ud.UserdataError):
        ud.node_credentials(METADATA_URL, "")
    with pytest.raises(ud.UserdataError):
        ud.node_credentials("", SECRET)
    with pytest.raises(ud.UserdataError):
        ud.render(inputs, ud.node_credentials(METADATA_URL, ud.REDACTED_SECRET), "script")


def test_no_kubelet_node_labels_flag_and_no_secret_on_a_command_line():
    text = ud.render(golden.USERDATA_VARIANTS["script.sh"][0], CREDENTIALS).text
    assert "--node-labels" not in text  # the API rejects it; labels come from the pool / NodePatch
    assert [line for line in text.splitlines() if SECRET in line] == [f"NODE_USERDATA={shlex.quote(CREDENTIALS)}"]
    # The agent needs a non-empty SCW_SECRET_KEY (metadata.go getKosmosUserData) but, with its cache in place, never
    # sends it: a fixed placeholder, not a key.
    assert "SCW_SECRET_KEY=unused-node-registered-by-kosmos" in text


def test_one_helper_strips_the_region_from_scaleway_ids():
    from components import identity, pool_nodes, scaleway_api

    assert identity.bare_id is pool_nodes.bare_id is scaleway_api.bare_id is ud.bare_id
    assert ud.bare_id("fr-par/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") == "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert ud.bare_id("0a1b2c3d") == "0a1b2c3d"
    copies = [p.name for p in (REPO / "components").rglob("*.py") if 'rsplit("/", 1)[-1]' in p.read_text()]
    assert copies == ["userdata.py"]
