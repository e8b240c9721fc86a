"""Nothing committed may depend on today's date: the clock is injected (spec validation, the mocked time provider)
and the whole program is run with the system clock moved twenty years ahead by libfaketime (Debian `faketime`)."""

from __future__ import annotations

import datetime as dt
import glob
import json
import os
import subprocess
import sys

import pytest

from components.join_key import EXPIRY_MARGIN, expiry_after_rotation
from components.spec import SpecError, parse_spec
from conftest import REPO, STACKS, stack_config
from tools.engine import run_program

# Debian's libfaketime (package faketime), under the multiarch directory of this machine.
LIBFAKETIME = next(iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None)
ROTATING = "time:index/rotating:Rotating"
APIKEY = "scaleway:iam/apiKey:ApiKey"
FAR = dt.datetime(2047, 3, 4, tzinfo=dt.timezone.utc)


def _spec_values(stack: str) -> dict:
    """The stack file's kosmos:* keys as parse_spec takes them (what __main__.py reads)."""
    return {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("kosmos:")}


@pytest.mark.parametrize("stack", STACKS)
def test_every_committed_stack_validates_decades_from_now(stack):
    for years in (0, 5, 50):
        parse_spec(_spec_values(stack), stack=stack, now=dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=365 * years))


def test_a_fixed_expiry_is_valid_until_its_date_and_not_after():
    values = {"cluster": {"region": "fr-par", "version": "1.31"}, "joinKeyExpiresAt": "2047-03-04T00:00:00Z"}
    parse_spec(values, now=FAR - dt.timedelta(seconds=1))
    with pytest.raises(SpecError, match='kosmos:joinKeyExpiresAt: "2047-03-04T00:00:00Z" is in the past'):
        parse_spec(values, now=FAR)


def test_join_key_expiry_is_the_rotation_time_the_time_provider_stored_plus_a_day():
    run = run_program("blog", clock=lambda: FAR)
    [rotation] = run.by_type(ROTATING)
    [key] = run.by_type(APIKEY)
    assert rotation.inputs == {"rotationDays": 90}
    assert rotation.state["rotationRfc3339"] == "2047-06-02T00:00:00Z"  # FAR + 90 days, as the provider stores it
    assert key.inputs["expiresAt"] == "2047-06-03T00:00:00Z"  # + EXPIRY_MARGIN
    # The expiry comes from the Rotating resource's stored output, not from the clock at plan time: the key only
    # changes when the time provider rotates (terraform-provider-time: replaced once its rotation time has passed).
    assert key.property_dependencies["expiresAt"] == [rotation.urn]


def test_the_expiry_margin_is_one_day_in_utc():
    assert EXPIRY_MARGIN == dt.timedelta(days=1)
    assert expiry_after_rotation("2030-12-31T23:30:00Z") == "2031-01-01T23:30:00Z"
    assert expiry_after_rotation("2030-06-01T02:00:00+02:00") == "2030-06-02T00:00:00Z"


_PLAN_EVERY_STACK = """
import datetime, json, pathlib, sys
from tools import plan
out = pathlib.Path(sys.argv[1])
report = {"now": datetime.datetime.now(datetime.timezone.utc).isoformat(), "stacks": {}}
for stack in sys.argv[2:]:
    code = plan.main(["--stack", stack, "--out", str(out)])
    doc = json.loads((out / stack / "plan.json").read_text()) if code == 0 else {"resources": []}
    keys = [r["inputs"].get("expiresAt") for r in doc["resources"] if r["type"] == "scaleway:iam/apiKey:ApiKey"]
    report["stacks"][stack] = {"code": code, "expiresAt": keys}
print("REPORT " + json.dumps(report))
"""


def test_make_plan_of_every_committed_stack_works_twenty_years_from_now(tmp_path):
    """`make plan` for every stack with the system clock twenty years ahead (libfaketime under the interpreter):
    the process, the spec validation and the mocked time provider all read the faked clock."""
    assert LIBFAKETIME, "make test installs faketime (tools/install-system-deps.sh)"
    # The suite itself may already run under libfaketime (README, Development): then its clock is the one moved.
    already_faked = "faketime" in os.environ.get("LD_PRELOAD", "")
    # Monotonic time is faked too (libfaketime's default): with FAKETIME_DONT_FAKE_MONOTONIC=1, Python's
    # time.sleep (clock_nanosleep on an absolute monotonic deadline) fails with EINVAL.
    env = dict(os.environ, LD_PRELOAD=LIBFAKETIME, FAKETIME="+7300d", FAKETIME_DONT_FAKE_MONOTONIC="0")
    result = subprocess.run([sys.executable, "-c", _PLAN_EVERY_STACK, str(tmp_path), *STACKS], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    [line] = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    report = json.loads(line[len("REPORT "):])
    faked_now = dt.datetime.fromisoformat(report["now"])
    if not already_faked:
        assert faked_now > dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=7000)  # the clock really was moved
    assert set(report["stacks"]) == set(STACKS)
    for stack, outcome in report["stacks"].items():
        assert outcome["code"] == 0, (stack, result.stderr[-3000:])
        for expires_at in outcome["expiresAt"]:
            if expires_at is not None:  # a join key with an expiry: valid from the (faked) day it is created
                assert dt.datetime.fromisoformat(expires_at.replace("Z", "+00:00")) > faked_now, stack
