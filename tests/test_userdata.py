"""The join template family: golden renders, shellcheck, Debian's `cloud-init schema`, size, redaction."""

from __future__ import annotations

import pathlib
import re
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
        rendered = ud.render(inputs, SECRET, variant)
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
    rendered = ud.render(LONG_INPUTS, SECRET, variant)
    assert len(rendered.text.encode()) <= 16 * 1024
    # Headroom for typical inputs under the hard 16 KiB; 13 KiB since the agent runs again on failure (issue 20).
    assert len(ud.render(golden.USERDATA_VARIANTS["script.sh"][0], SECRET, variant).text.encode()) < 13 * 1024


def test_oversized_userdata_is_refused():
    huge = ud.JoinInputs(pool_id="fr-par/x", region="fr-par", allowed_os=("ubuntu:22.04",) * 2000)
    with pytest.raises(ud.UserdataError, match="limit is 16384"):
        ud.render(huge, SECRET, "script")


@pytest.mark.parametrize("variant", ud.VARIANTS)
def test_redacted_rendering_differs_only_by_the_secret(variant):
    inputs = golden.USERDATA_VARIANTS["script.sh"][0]
    rendered = ud.render(inputs, SECRET, variant)
    assert SECRET in rendered.text and SECRET not in rendered.redacted
    assert ud.REDACTED_SECRET in rendered.redacted
    assert rendered.text.replace(SECRET, ud.REDACTED_SECRET) == rendered.redacted
    assert rendered.sha256 == ud.sha256_hex(rendered.redacted)


def test_hash_ignores_key_rotation_but_follows_every_real_change():
    inputs = golden.USERDATA_VARIANTS["script.sh"][0]
    base = ud.render(inputs, SECRET, "script").sha256
    assert ud.render(inputs, "another-key", "script").sha256 == base
    changed = [
        ud.JoinInputs(pool_id="fr-par/other", region="fr-par"),
        ud.JoinInputs(pool_id=inputs.pool_id, region="nl-ams"),
        ud.JoinInputs(pool_id=inputs.pool_id, region="fr-par", min_memory_mib=4096),
        ud.JoinInputs(pool_id=inputs.pool_id, region="fr-par", agent_sha256={"arm64": "c" * 64}),
    ]
    assert len({ud.render(i, SECRET, "script").sha256 for i in changed} | {base}) == len(changed) + 1


def test_pool_id_is_rendered_as_the_bare_uuid():
    text = ud.render(ud.JoinInputs(pool_id="nl-ams/1234abcd-0000-0000-0000-000000000000", region="nl-ams"),
                     SECRET).text
    assert "POOL_ID=1234abcd-0000-0000-0000-000000000000\n" in text
    assert "nl-ams/1234abcd" not in text


def test_agent_url_and_pins_are_rendered():
    text = ud.render(golden.USERDATA_VARIANTS["script-pinned-mirror.sh"][0], SECRET).text
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
        ud.render(inputs, "", "script")
    with pytest.raises(ud.UserdataError):
        ud.render(inputs, ud.REDACTED_SECRET, "script")


def test_no_kubelet_node_labels_flag_and_no_secret_on_a_command_line():
    text = ud.render(golden.USERDATA_VARIANTS["script.sh"][0], SECRET).text
    assert "--node-labels" not in text  # the API rejects it; labels come from the pool / NodePatch
    for line in text.splitlines():
        if SECRET in line:
            assert re.fullmatch(r"JOIN_SECRET=\S+", line), line  # only the assignment, never argv


def test_one_helper_strips_the_region_from_scaleway_ids():
    from components import registration

    assert registration.bare_id is ud.bare_id
    assert ud.bare_id("fr-par/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d") == "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
    assert ud.bare_id("0a1b2c3d") == "0a1b2c3d"
    copies = [p.name for p in (REPO / "components").rglob("*.py") if 'rsplit("/", 1)[-1]' in p.read_text()]
    assert copies == ["userdata.py"]
