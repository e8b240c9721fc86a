"""Adding a cloud is its pool model plus its machine set: everything else a cloud contributes is declared there or
keyed by its provider (components/clouds/__init__.py), and these checks fail when a piece is missing."""

from __future__ import annotations

import pytest

from components import model
from components.clouds import MACHINE_SETS, MachineSet
from test_config_reaches_program import FULL, _program_run
from tools.engine import CLOUD_MOCKS

PROVIDERS = sorted(model.PROVIDER_MODELS)
KOSMOS_OWN = "pulumi-python:dynamic/kosmos:"  # node identities, rollout gates: kosmos' own, mocked by type


def test_every_provider_of_the_model_has_a_machine_set_and_an_offline_mock():
    assert sorted(MACHINE_SETS) == PROVIDERS
    assert sorted(CLOUD_MOCKS) == PROVIDERS


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_machine_set_declares_what_its_cloud_contributes(provider):
    cls = MACHINE_SETS[provider]
    assert issubclass(cls, MachineSet) and cls.PROVIDER == provider
    assert cls.CONFIG is model.PROVIDER_MODELS[provider]
    assert cls.USERDATA_VARIANT in ("script", "cloud-config") and cls.USERDATA_PROPERTY and cls.USERDATA_CHANGE_EFFECT
    assert cls.create_machine is not MachineSet.create_machine  # the loop is the base class's, one machine is its own


@pytest.fixture(scope="module")
def full_run():
    return _program_run(FULL)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_offline_mock_answers_for_every_resource_the_cloud_registers(provider, full_run):
    by_urn = full_run.by_urn()
    sets = {r.urn for r in full_run.registrations if r.type == MACHINE_SETS[provider].TYPE}
    assert sets, f"FULL declares no {provider} pool"
    registered = {r.type for r in full_run.registrations if r.custom and r.parent in sets and not r.type.startswith(KOSMOS_OWN)}
    assert registered and registered <= set(CLOUD_MOCKS[provider].resources), registered
    # Its provider's force-new inputs are about resources it registers.
    assert set(MACHINE_SETS[provider].FORCE_NEW_INPUTS) <= registered
    assert all(by_urn[u].type == MACHINE_SETS[provider].TYPE for u in sets)
