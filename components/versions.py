"""The Kubernetes versions Scaleway offers, with their dates, and the plan-time check of `kosmos:cluster.version`.

Standard library only, no import of the rest of kosmos: the policy pack loads this one file by path
(policy/kosmos_policies.py), in a virtualenv without the provider SDKs.

Sources:
- The versions, their deprecation and end-of-life dates: Scaleway's version list (`GET /k8s/v1/regions/fr-par/
  versions`, fields `deprecated_at`, `end_of_life_at`) as recorded on 2026-07-21 in scaleway/terraform-provider-scaleway
  `internal/services/k8s/testdata/pool-placement-group.cassette.yaml` (commit fb223c0; the later cassettes
  `cluster-autoscaling` of 2026-08-07 and `pool-taints-and-labels` of 2026-08-18, the newest at the provider's
  b2d45ed, list the same four versions and dates; those of 2026-06-22 the same dates for 1.33-1.35). The same dates are in Scaleway's docs,
  scaleway/docs-content `pages/kubernetes/reference-content/version-support-policy.mdx` (its "Deprecation" and
  "End of Support" columns).
- What the dates mean: scaleway-sdk-python `scaleway/k8s/v1/types.py`, `Version.deprecated_at`: "Date from which
  this version will no longer be available for provisioning"; `Version.end_of_life_at`: "Date from which any
  remaining clusters on this version will begin to be forcibly upgraded to the next minor version". The docs page
  above: "When a minor version becomes unsupported, Scaleway operates an upgrade to the latest patch version of the
  next supported minor version within the next 30 days."
- One minor at a time: scaleway-sdk-python `UpgradeClusterRequest.version`: "the version should either be a higher
  patch version of the same minor version or the direct minor version after the current one"
  (terraform-provider-scaleway `internal/services/k8s/cluster.go` leaves the decision to the API: "we let the API
  decide if we can upgrade").
- Version skew: kubernetes/website `content/en/releases/version-skew-policy.md`: "kubelet must not be newer than
  kube-apiserver" and "may be up to three minor versions older" (two for kubelets older than 1.25).

Re-check with `scw k8s version list` (or `K8SV1API.list_versions`) and update CATALOG, RECORDED and SOURCE together.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
from typing import Callable, Optional

RECORDED = "2026-07-21"
SOURCE = "Scaleway's version list of 2026-07-21 (sources: components/versions.py)"
WARN_DAYS = 30
"""A version this close to its end of life is warned about: Scaleway upgrades it by itself from that date."""
MAX_KUBELET_MINOR_SKEW = 3
"""How many minors a kubelet may lag the API server (version-skew-policy.md, since kubelet 1.25)."""
KEY = "kosmos:cluster.version"


@dataclass(frozen=True)
class Release:
    minor: str
    """`1.35`."""
    patch: str
    """The patch release Scaleway lists for that minor (the list carries one per minor)."""
    deprecated: _dt.date
    """No new cluster at this version from this date (`deprecated_at`)."""
    end_of_life: _dt.date
    """Clusters still on it are upgraded by Scaleway to the next minor from this date (`end_of_life_at`)."""


CATALOG: tuple[Release, ...] = (
    Release("1.33", "1.33.10", _dt.date(2026, 9, 4), _dt.date(2026, 11, 4)),
    Release("1.34", "1.34.6", _dt.date(2026, 9, 29), _dt.date(2026, 11, 29)),
    Release("1.35", "1.35.3", _dt.date(2027, 1, 19), _dt.date(2027, 3, 19)),
    Release("1.36", "1.36.1", _dt.date(2027, 7, 7), _dt.date(2027, 9, 7)),
)
_VERSION = re.compile(r"^(?P<minor>1\.(?P<n>[0-9]+))(\.(?P<patch>[0-9]+))?$")


def minor_of(version: str) -> Optional[str]:
    """`1.35.3` / `1.35` -> `1.35`; None for anything else."""
    m = _VERSION.fullmatch(version)
    return m["minor"] if m else None


def minor_number(version: str) -> Optional[int]:
    """`1.35.3` -> 35."""
    m = _VERSION.fullmatch(version)
    return int(m["n"]) if m else None


def release(version: str) -> Optional[Release]:
    minor = minor_of(version)
    return next((r for r in CATALOG if r.minor == minor), None)


def supported(today: _dt.date) -> list[Release]:
    """The catalogued releases not yet at their end of life on `today`."""
    return [r for r in CATALOG if today < r.end_of_life]


CLOCK: Optional[Callable[[], _dt.datetime]] = None
"""What "today" is when no `now` is passed: the system clock unless set. The offline engine sets it to its own
clock for the length of a run (tools/engine.py run_program), so a plan's warnings follow the injected clock."""


def _today(now) -> _dt.date:
    if now is None:
        return (CLOCK or (lambda: _dt.datetime.now(_dt.timezone.utc)))().date()
    return now.date() if isinstance(now, _dt.datetime) else now


def _supported_text(today: _dt.date) -> str:
    left = supported(today)
    if not left:
        return (f"every version in kosmos' catalog ({SOURCE}) is past its end of life: check `scw k8s version list` "
                "and update components/versions.py")
    return "supported: " + ", ".join(f"{r.minor} (patch {r.patch}, end of life {r.end_of_life})" for r in left)


def findings(version: str, now=None) -> list[str]:
    """What a plan warns about `kosmos:cluster.version` on the day of `now` (a date or datetime; default: today,
    UTC). Never an error: see README, "Upgrading" (an existing cluster must step through each minor, so refusing
    versions the catalog no longer lists would leave it no way up)."""
    today = _today(now)
    m = _VERSION.fullmatch(version)
    if m is None:
        return []  # the model's pattern reports it
    rel = release(version)
    if rel is None:
        oldest, newest = CATALOG[0], CATALOG[-1]
        if int(m["n"]) < minor_number(oldest.minor):
            return [
                f'{KEY}: "{version}" is older than every version in {SOURCE} (oldest {oldest.minor}, end of life '
                f"{oldest.end_of_life}): Scaleway creates no cluster at it, and upgrades clusters still on it to the "
                "next minor by itself. Move the stack up one minor at a time (README, Upgrading); "
                + _supported_text(today)
            ]
        return [
            f'{KEY}: "{version}" is not in kosmos\' catalog ({SOURCE}, newest {newest.minor}): if `scw k8s version '
            "list` shows it, add it to components/versions.py with its end-of-life date; " + _supported_text(today)
        ]
    out = []
    if m["patch"] is not None and version != rel.patch:
        out.append(
            f'{KEY}: "{version}" pins a patch release that {SOURCE} does not list: it lists {rel.patch} for '
            f"{rel.minor}; Scaleway may refuse to create a cluster at {version}"
        )
    if today >= rel.end_of_life:
        out.append(
            f'{KEY}: "{version}" reached its end of life on {rel.end_of_life}: Scaleway upgrades clusters still on '
            f"{rel.minor} to the next minor by itself (within 30 days), so the control plane moves ahead of this "
            "stack and its external nodes lag until you move the version and run `pulumi up` (README, Upgrading); "
            + _supported_text(today)
        )
    elif today >= rel.end_of_life - _dt.timedelta(days=WARN_DAYS):
        days = (rel.end_of_life - today).days
        out.append(
            f'{KEY}: "{version}" reaches its end of life on {rel.end_of_life} (in {days} day{"s" if days != 1 else ""}):'
            f" Scaleway then upgrades the control plane by itself; move to the next minor first (README, Upgrading); "
            + _supported_text(today)
        )
    elif today >= rel.deprecated:
        out.append(
            f'{KEY}: "{version}" is deprecated since {rel.deprecated}: Scaleway creates no new cluster at it, and '
            f"upgrades existing ones from {rel.end_of_life}; " + _supported_text(today)
        )
    return out
