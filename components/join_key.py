"""JoinKey: a least-privilege Scaleway API key for external nodes.

One IAM application per cluster, whose only policy grants `KubernetesExternalNodeRegister` on the cluster's project.
Its secret key is the one rendered into join userdata, never the operator's own key.
"""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumiverse_scaleway.iam as iam

from . import catalog


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
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("kosmos:index:JoinKey", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
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
            expires_at=expires_at,
            opts=pulumi.ResourceOptions(parent=self, additional_secret_outputs=["secret_key"]),
        )
        # The key is only usable once its policy is attached: carrying the policy in the Output makes everything the
        # key is rendered into (every machine's userdata) wait for it, without a depends_on on every machine.
        self.secret_key = pulumi.Output.secret(
            pulumi.Output.all(self.api_key.secret_key, self.policy.id).apply(lambda key_and_policy: key_and_policy[0])
        )
        self.access_key = self.api_key.access_key
        self.register_outputs(
            {"application_id": self.application.id, "access_key": self.access_key, "secret_key": self.secret_key}
        )
