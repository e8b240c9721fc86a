"""The version catalog (components/versions.py) and the plan-time warnings about kosmos:cluster.version, with an
injected clock: today (2026-12-03) 1.33 and 1.34 are past their end of life."""

from __future__ import annotations

import datetime as dt

import pytest

from components import versions
from components.spec import parse_spec
from conftest import STACKS, stack_config
from tools.engine import run_program

TODAY = dt.date(2026, 12, 3)


def spec(version, **cluster):
    return parse_spec({"cluster": {"region": "fr-par", "version": version, **cluster}})


def test_the_catalog_is_scaleways_list_as_recorded():
    # Read from terraform-provider-scaleway internal/services/k8s/testdata/pool-placement-group.cassette.yaml
    # (recorded 2026-07-21): name, deprecated_at, end_of_life_at of each version.
    assert [(r.patch, str(r.deprecated), str(r.end_of_life)) for r in versions.CATALOG] == [
        ("1.33.10", "2026-09-04", "2026-11-04"),
        ("1.34.6", "2026-09-29", "2026-11-29"),
        ("1.35.3", "2027-01-19", "2027-03-19"),
        ("1.36.1", "2027-07-07", "2027-09-07"),
    ]


@pytest.mark.parametrize("version", ["1.33", "1.33.10", "1.34", "1.34.6"])
def test_a_version_past_its_end_of_life_is_a_loud_warning(version):
    auto = {"autoUpgrade": {"enabled": True}} if version.count(".") == 1 else {}  # a minor needs autoUpgrade
    [warning] = spec(version, **auto).warnings(TODAY)
    minor = version[:4]
    eol = {"1.33": "2026-11-04", "1.34": "2026-11-29"}[minor]
    assert warning.startswith(f'kosmos:cluster.version: "{version}" reached its end of life on {eol}: ')
    assert "Scaleway upgrades clusters still on" in warning
    assert warning.endswith(
        "supported: 1.35 (patch 1.35.3, end of life 2027-03-19), 1.36 (patch 1.36.1, end of life 2027-09-07)"
    )


def test_within_thirty_days_of_end_of_life_warns_with_the_days_left():
    s = spec("1.35.3")
    [w] = s.warnings(dt.datetime(2027, 2, 16, tzinfo=dt.timezone.utc))  # 31 days before: only deprecated
    assert "is deprecated since 2027-01-19" in w and "end of life on" not in w
    [w] = s.warnings(dt.datetime(2027, 2, 17, tzinfo=dt.timezone.utc))
    assert w.startswith('kosmos:cluster.version: "1.35.3" reaches its end of life on 2027-03-19 (in 30 days)')
    [w] = s.warnings(dt.date(2027, 3, 18))
    assert "(in 1 day)" in w
    [w] = s.warnings(dt.date(2027, 3, 19))
    assert "reached its end of life on 2027-03-19" in w
    assert w.endswith("supported: 1.36 (patch 1.36.1, end of life 2027-09-07)")


def test_deprecated_but_not_yet_at_end_of_life():
    [w] = spec("1.35.3").warnings(dt.date(2027, 1, 25))
    assert w.startswith('kosmos:cluster.version: "1.35.3" is deprecated since 2027-01-19: Scaleway creates no new '
                        "cluster at it")


def test_unknown_versions_are_warned_not_refused():
    # A stack on 1.31 must still plan: its way up is one minor at a time (README, Upgrading).
    [old] = spec("1.31.14").warnings(TODAY)
    assert old.startswith('kosmos:cluster.version: "1.31.14" is older than every version in Scaleway\'s version '
                          "list of 2026-07-21")
    assert "Move the stack up one minor at a time" in old
    [new] = spec("1.37.0").warnings(TODAY)
    assert new.startswith('kosmos:cluster.version: "1.37.0" is not in kosmos\' catalog')
    assert "add it to components/versions.py" in new
    [patch] = spec("1.36.0").warnings(TODAY)
    assert "lists 1.36.1 for 1.36" in patch


def test_a_minor_without_auto_upgrade_is_warned():
    # terraform-provider-scaleway cluster.go CustomizeDiff: "minor version x.y must only be used with auto upgrade
    # enabled".
    warnings = spec("1.36").warnings(TODAY)
    assert warnings == [
        'kosmos:cluster.version: "1.36" is a minor without autoUpgrade.enabled, which Scaleway\'s provider refuses '
        'at preview; pin a patch ("1.36.1") or enable autoUpgrade'
    ]
    assert spec("1.36", autoUpgrade={"enabled": True}).warnings(TODAY) == []


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_run_a_supported_version_today(stack):
    values = {k.split(":", 1)[1]: v for k, v in stack_config(stack).items() if k.startswith("kosmos:")}
    s = parse_spec(values, stack=stack)
    assert versions.release(s.cluster.version) in versions.supported(TODAY)
    assert [w for w in s.warnings(TODAY) if "cluster.version" in w] == []


def test_the_plan_dates_its_warnings_with_the_engine_clock():
    later = dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc)
    run = run_program("baremetal", clock=lambda: later)
    assert any(w.startswith('kosmos:cluster.version: "1.35.3" reaches its end of life on 2027-03-19 (in 18 days)')
               for w in run.warnings)
    assert not [w for w in run_program("baremetal", clock=lambda: dt.datetime(2026, 12, 3, tzinfo=dt.timezone.utc))
                .warnings if "cluster.version" in w]
    assert versions.CLOCK is None  # restored after the run
