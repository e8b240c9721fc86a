"""Nothing committed may fail because of today's date: every committed stack still plans with the system clock moved
twenty years ahead by Debian's libfaketime (package faketime, installed by `make test`), and the only thing the date
changes is the version catalog's warning (components/versions.py: warnings, never errors)."""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

from conftest import REPO, STACKS

LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)


@pytest.mark.parametrize("stack", STACKS)
def test_every_committed_stack_plans_twenty_years_from_now(stack, tmp_path):
    assert LIBFAKETIME, "make test installs faketime (apt-get install faketime)"
    env = {**os.environ, "LD_PRELOAD": LIBFAKETIME, "FAKETIME": "+7300d"}
    env.pop("FAKETIME_DONT_FAKE_MONOTONIC", None)  # Python's time.sleep fails with EINVAL without it
    proc = subprocess.run([sys.executable, "-m", "tools.plan", "--stack", stack, "--out", str(tmp_path)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines() if "kosmos:cluster.version" in line]
    assert len(warnings) == 1 and "reached its end of life on" in warnings[0], warnings
    assert "every version in kosmos' catalog" in warnings[0] and "is past its end of life" in warnings[0]
