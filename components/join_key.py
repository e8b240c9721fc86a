"""JoinKey: a least-privilege Scaleway API key for external nodes.

One IAM application per cluster, whose only policy grants `KubernetesExternalNodeRegister` on the cluster's project.
Its secret key is the one rendered into join userdata, never the operator's own key.

Expiry: a fixed date (`expires_at`), or `valid_days`. A date computed from "now" on every run would move on every
preview, and the key's `expires_at` forces a new key (terraform-provider-scaleway, internal/services/iam/api_key.go:
`ForceNew: true`), so every `pulumi up` would rotate it. A pulumiverse-time `Rotating` resource instead records its
creation time in state once; when the rotation time has passed, the next plan replaces it (terraform-provider-time
v0.12.1, the version pulumiverse-time 0.1.1 bridges: `RequiresReplaceIf(ReplaceIfOutdated)` on rotation_rfc3339),
and with it the key.
"""

from __future__ import annotations

from typing import Optional

import datetime as _dt

import pulumi
import pulumiverse_scaleway.iam as iam
import pulumiverse_time as time

from . import catalog

EXPIRY_MARGIN = _dt.timedelta(days=1)
"""The key outlives its rotation time by a day: a machine created by an update just before the rotation still
boots and registers with it; the first update after the rotation time makes a new key."""


def expiry_after_rotation(rotation_rfc3339: str) -> str:
    """`2027-01-01T00:00:00Z` -> `2027-01-02T00:00:00Z` (rotation time + EXPIRY_MARGIN), RFC 3339 UTC."""
    when = _dt.datetime.fromisoformat(rotation_rfc3339.replace("Z", "+00:00")).astimezone(_dt.timezone.utc)
    return (when + EXPIRY_MARGIN).strftime("%Y-%m-%dT%H:%M:%SZ")


class JoinKey(pulumi.ComponentResource):
    application: iam.Application
    policy: iam.Policy
    api_key: iam.ApiKey
    secret_key: pulumi.Output[str]
    """Secret; depends on the policy too (usable only once the policy is attached)."""
    access_key: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        cluster_name: str,
        project_id: pulumi.Input[str],
        expires_at: Optional[str] = None,
        valid_days: Optional[int] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        """`expires_at`: fixed RFC 3339 UTC expiry. `valid_days`: rotate the key every N days (see module doc)."""
        if expires_at is not None and valid_days is not None:
            raise ValueError("JoinKey takes expires_at or valid_days, not both")
        super().__init__("kosmos:index:JoinKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rotation: Optional[time.Rotating] = None
        key_expiry: Optional[pulumi.Input[str]] = expires_at
        if valid_days is not None:
            self.rotation = time.Rotating(f"{name}-rotation", rotation_days=valid_days, opts=child)
            key_expiry = self.rotation.rotation_rfc3339.apply(expiry_after_rotation)
        self.application = iam.Application(
            f"{name}-app",
            name=f"kosmos-join-{cluster_name}",
            description=f"Registers external nodes into Kosmos cluster {cluster_name} (managed by kosmos)",
            opts=child,
        )
        self.policy = iam.Policy(
            f"{name}-policy",
            name=f"kosmos-join-{cluster_name}",
            description=f"Only {catalog.JOIN_PERMISSION_SET} on the cluster's project",
            application_id=self.application.id,
            rules=[iam.PolicyRuleArgs(project_ids=[project_id], permission_set_names=[catalog.JOIN_PERMISSION_SET])],
            opts=child,
        )
        self.api_key = iam.ApiKey(
            f"{name}-key",
            application_id=self.application.id,
            default_project_id=project_id,
            description=f"kosmos join key for {cluster_name}",
            expires_at=key_expiry,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["secret_key"]),
        )
        # The key is only usable once its policy is attached: carrying the policy in the Output makes everything the
        # key is rendered into (every machine's userdata) wait for it, without a depends_on on every machine.
        self.secret_key = pulumi.Output.secret(
            pulumi.Output.all(self.api_key.secret_key, self.policy.id).apply(lambda key_and_policy: key_and_policy[0])
        )
        self.access_key = self.api_key.access_key
        self.expires_at = self.api_key.expires_at
        self.register_outputs(
            {
                "application_id": self.application.id,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "expires_at": self.expires_at,
            }
        )
