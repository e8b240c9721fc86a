"""The one place the offline tools (and the program's config reader) reach into the Pulumi SDK's internals.

Everything here is SDK-internal in pulumi 3.272.0 (pinned in constraints.txt): the runtime settings, the config
store, RPC (de)serialisation, the mock monitor and the stack runner. An SDK upgrade that moves any of them breaks
here, in one module, and tests/test_sdk_adapter.py says which (it checks the installed SDK is the pinned one and that
every name used here is still there). The components, which ship without tools/, have theirs in
components/scaleway_api.py (what the dynamic providers share).
"""

from __future__ import annotations

from typing import Any, Callable

import pulumi
from pulumi.runtime import config as _config
from pulumi.runtime import rpc as _rpc
from pulumi.runtime import settings as _settings
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func

PINNED_SDK = "3.272.0"
"""The SDK version this adapter is written against (constraints.txt)."""

__all__ = [
    "MockMonitor", "PINNED_SDK", "config_keys", "config_value", "deserialize", "finish_stack", "is_rpc_secret",
    "is_secret_key", "reset", "root_resource", "run", "set_config", "set_mocks", "unwrap_rpc_secret",
]


# -- the program's config (the CLI hands it over in the environment; the mock engine sets it) --------------------

def config_keys() -> set[str]:
    """Every `namespace:key` of the stack's config."""
    return set(_config.CONFIG.get()) | set(_config.get_config_env())


def config_value(full_key: str) -> Any:
    """The raw (string) value of a config key, None when unset."""
    return _config.get_config(full_key)


def is_secret_key(full_key: str) -> bool:
    """The key was stored with `pulumi config set --secret`."""
    return _config.is_config_secret(full_key) or full_key in _config.get_config_secret_keys_env()


def set_config(config: dict[str, str], secret_keys: list[str]) -> None:
    _config.set_all_config(dict(config), list(secret_keys))


# -- RPC values -----------------------------------------------------------------------------------------------------

def deserialize(struct: Any, keep_unknowns: bool = False) -> Any:
    """A protobuf Struct of resource properties as Python values (secrets as RPC secret markers)."""
    return _rpc.deserialize_properties(struct, keep_unknowns=keep_unknowns)


def is_rpc_secret(value: Any) -> bool:
    return _rpc.is_rpc_secret(value)


def unwrap_rpc_secret(value: Any) -> Any:
    return _rpc.unwrap_rpc_secret(value)


# -- the mock engine ------------------------------------------------------------------------------------------------

def reset() -> None:
    """Forget the previous run's settings (monitor, root resource, stack) before the next one."""
    _settings.reset_options()


def set_mocks(mocks: pulumi.runtime.Mocks, *, project: str, stack: str, monitor: Any, logger: Any) -> None:
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=logger)


def root_resource() -> Any:
    return _settings.get_root_resource()


def finish_stack() -> None:
    """What the CLI's entrypoint (run_in_stack) does after the program: massage the stack exports and register them
    as the root's outputs. pulumi 3.272: Stack._finish registers once, and set_mocks already called it (empty)."""
    root = _settings.get_root_resource()
    root._outputs_registered = False
    root._finish()


def run(program: Callable[[], None]) -> Any:
    """A coroutine running `program` as the CLI would, waiting for every outstanding RPC."""
    return run_pulumi_func(program)
