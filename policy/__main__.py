"""kosmos CrossGuard policy pack: `pulumi preview --policy-pack policy`."""

from pulumi_policy import EnforcementLevel, PolicyPack

from kosmos_policies import POLICIES

PolicyPack(name="kosmos", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
