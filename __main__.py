"""kosmos: one `pulumi up` converges a Scaleway Kosmos multicloud cluster.

The only place that reads stack config: it collects the `kosmos:*` keys, validates them into a spec (every error at
once, before any resource exists), builds one MulticloudCluster and exports what operators need.
"""

import json

import pulumi

from components import MulticloudCluster, SpecError, parse_spec
from components.spec import NAMESPACE, SECRET_KEYS, namespace_typos
from tools import sdk  # the SDK's config store is internal: tools/sdk.py is the one place that touches it


def read_kosmos_config() -> tuple[dict, list[str]]:
    """Every `kosmos:*` key as Python values (secrets stay Outputs), plus secret-handling problems."""
    keys = sdk.config_keys()
    cfg = pulumi.Config(NAMESPACE)
    values, problems = {}, namespace_typos(sorted(keys))
    for full_key in sorted(k for k in keys if k.startswith(f"{NAMESPACE}:")):
        key = full_key.split(":", 1)[1]
        if key in SECRET_KEYS:
            if not sdk.is_secret_key(full_key):
                problems.append(
                    f"{full_key}: must be stored encrypted; set it with `pulumi config set --secret {full_key}`"
                )
            values[key] = cfg.get_secret(key)
            continue
        if sdk.is_secret_key(full_key):
            problems.append(f"{full_key}: is not a credential and must not be a secret; set it without --secret")
            continue
        raw = sdk.config_value(full_key)
        try:
            values[key] = json.loads(raw)
        except (TypeError, ValueError):
            values[key] = raw  # plain strings are stored as-is
    return values, problems


def main() -> None:
    values, problems = read_kosmos_config()
    try:
        spec = parse_spec(values, stack=pulumi.get_stack())
    except SpecError as err:
        raise SpecError(problems + err.problems) from None
    if problems:
        raise SpecError(problems)

    scaleway = pulumi.Config("scaleway")
    multicloud = MulticloudCluster(
        "kosmos",
        spec,
        # The registrations' credentials reach their dynamic provider through configure() (all stack config), not
        # inputs, so destroy works with outputs only; the API URL is not a credential.
        scaleway_api_url=scaleway.get("apiUrl"),
    )
    pulumi.export("clusterId", multicloud.cluster_id)
    pulumi.export("apiserverUrl", multicloud.apiserver_url)
    pulumi.export("kubeconfig", multicloud.kubeconfig)
    pulumi.export("poolIds", multicloud.pool_ids)
    pulumi.export("nodes", multicloud.nodes)
    pulumi.export("userdata", multicloud.userdata)


main()
