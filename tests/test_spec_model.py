"""The typed model is the spec: parse_spec returns the model's instances, with the rules across values run by the
model's validator under a validation context (stack name, clock)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from components import model, spec

BASE = {"cluster": {"region": "fr-par", "version": "1.35.3"},
        "scalewayPools": [{"name": "par", "nodeType": "DEV1-M", "size": 1}],
        "externalPools": [{"name": "lon", "provider": "civo", "region": "LON1", "size": "g3.medium", "count": 1,
                           "sshKeyId": "key-1"}]}


def test_parse_spec_returns_the_model_with_the_defaults_that_need_other_values():
    s = spec.parse_spec(BASE, stack="prod")
    assert isinstance(s, model.KosmosConfig) and isinstance(s.external_pools[0], model.CivoPoolModel)
    assert s.cluster.name == "kosmos-prod"  # the stack name, from the validation context
    assert s.scaleway_pools[0].zone == "fr-par-1"  # the cluster's region
    assert s.external_pools[0].ssh_key_id == "key-1" and s.external_pools[0].upgrade.max_unavailable == 1


def test_the_validator_reads_the_stack_from_the_context():
    ctx = spec.Context(stack="lab")
    assert model.KosmosConfig.model_validate(BASE, context=ctx).cluster.name == "kosmos-lab"
    assert ctx.problems.items == []


def test_without_a_context_a_rule_across_values_fails_the_validation():
    bad = {**BASE, "externalPools": [{**BASE["externalPools"][0], "size": "g3.xsmall"}]}
    with pytest.raises(ValidationError, match=r"kosmos:externalPools\[0\]\.size"):
        model.KosmosConfig.model_validate(bad)
    with pytest.raises(spec.SpecError, match=r"kosmos:externalPools\[0\]\.size"):
        spec.parse_spec(bad)
