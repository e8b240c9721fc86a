"""`make golden`: regenerate the committed golden renders under tests/golden/.

Review shows template changes as diffs of these files (terraform-aws-eks style): the redacted join userdata of each
variant, and the `blog` stack's plan summary and per-pool userdata.
"""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
import sys

from components.userdata import JoinInputs, render_leave, render_redacted

from .engine import REPO, run_program
from .plan import summary_markdown, write_outputs

GOLDEN = REPO / "tests" / "golden"
POOL_ID = "fr-par/0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
PINNED = {"amd64": "1" * 64, "arm64": "2" * 64}
MIRROR = "https://mirror.example.internal/kosmos"
# The goldens are planned on a fixed day, so the version warnings in summary.md do not move with the calendar.
GOLDEN_DAY = dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc)

# name -> (inputs, variant); "leave" renders the on-prem clean-leave script.
USERDATA_VARIANTS: dict[str, tuple[JoinInputs, str]] = {
    "script.sh": (JoinInputs(pool_id=POOL_ID, region="fr-par"), "script"),
    "script-pinned-mirror.sh": (
        JoinInputs(pool_id=POOL_ID, region="fr-par", agent_base_url=MIRROR, agent_sha256=PINNED,
                   allowed_os=("ubuntu:24.04", "debian:12"), min_memory_mib=4096),
        "script",
    ),
    "cloud-config.yaml": (JoinInputs(pool_id=POOL_ID, region="nl-ams"), "cloud-config"),
    "cloud-config-pinned-mirror.yaml": (
        JoinInputs(pool_id=POOL_ID, region="fr-par", agent_base_url=MIRROR, agent_sha256=PINNED), "cloud-config"
    ),
    "leave.sh": (JoinInputs(pool_id=POOL_ID, region="fr-par"), "leave"),
}


def render_variant(name: str) -> str:
    inputs, variant = USERDATA_VARIANTS[name]
    return render_leave(inputs) if variant == "leave" else render_redacted(inputs, variant).redacted


def expected_files() -> dict[pathlib.Path, str]:
    """Every golden file and the content it must have."""
    files = {GOLDEN / "userdata" / name: render_variant(name) for name in USERDATA_VARIANTS}
    run = run_program("blog", clock=lambda: GOLDEN_DAY)
    tmp = REPO / "build" / ".golden"
    shutil.rmtree(tmp, ignore_errors=True)
    for path in write_outputs(run, tmp):
        rel = path.relative_to(tmp / "blog")
        if rel.parts[0] == "userdata":
            files[GOLDEN / "blog" / rel] = path.read_text()
    files[GOLDEN / "blog" / "summary.md"] = summary_markdown(run)
    shutil.rmtree(tmp, ignore_errors=True)
    return files


def main() -> int:
    files = expected_files()
    for sub in ("userdata", "blog"):
        shutil.rmtree(GOLDEN / sub, ignore_errors=True)
    for path, text in sorted(files.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
