"""Generate components/args.py, the component package's typed args, from the config model (components/model.py).

Pulumi's component analyzer (pulumi 3.272 provider/experimental/analyzer.py) infers the package schema from plain
annotations: it refuses `Annotated`, `Literal` and unions, treats every non-Optional field of a class that is not a
TypedDict as required, and reads attribute docstrings from the source. So the pydantic model cannot be the args
itself: this writes it out as TypedDicts, one per model (the external pools' union merged into one
`ExternalPoolConfig` with `provider` an enum), each key's description taken from the model, with its choices and
default. `make schema` runs it; tests/test_component_package.py checks the committed file is current.
"""

from __future__ import annotations

import argparse
import pathlib
import textwrap
import typing
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from components import model

REPO = pathlib.Path(__file__).resolve().parent.parent
OUT = REPO / "components" / "args.py"
WIDTH = 120

ARGS_NAME = "MulticloudClusterArgs"
POOL_NAME = "ExternalPoolConfig"
PROVIDER_ENUM = "ExternalPoolProvider"

HEADER = '''"""Typed arguments of MulticloudCluster, in exactly the stack-config shape (`kosmos:*` keys, camelCase).

GENERATED from components/model.py by tools/argsgen.py (`make schema`); do not edit: change the model.

These TypedDicts are what Pulumi's component-package analyzer reads to infer the `kosmos` package schema (pulumi
`provider/experimental/analyzer.py`): no unions, `Literal` or `Annotated` (so the per-cloud pool fields share one
`ExternalPoolConfig` with `provider` as an enum), attribute docstrings as descriptions. Keys are camelCase: the
analyzer camel-cases names for the schema, so these map to themselves, and a value from any language is the mapping
a stack file holds. `spec.parse_spec` validates every value with the model.

No `from __future__ import annotations`: the analyzer reads annotations without evaluating strings.
"""

from enum import Enum
from typing import Required, TypedDict

import pulumi

from .outputs import NodeSummary, PoolNodes, PoolUserdata, to_config  # noqa: F401 (the component's other types)
'''


def _class_name(m: type[BaseModel]) -> str:
    if m is model.KosmosConfig:
        return ARGS_NAME
    if issubclass(m, model.ExternalPoolModel):
        return POOL_NAME
    return m.__name__.removesuffix("Model") + "Config"


def _doc(text: str, indent: str) -> list[str]:
    text = " ".join(text.split()).replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    lines = textwrap.wrap(f'"""{text}"""', WIDTH - len(indent), break_long_words=False, break_on_hyphens=False)
    return [indent + line for line in lines]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _type(tp: Any, nested: list) -> str:
    """The annotation the analyzer takes for a model type; nested models are appended to `nested`."""
    tp = model._unwrap(tp, [], [])
    origin = typing.get_origin(tp)
    if origin is list:
        return f"list[{_type(typing.get_args(tp)[0], nested)}]"
    if origin is dict:
        return f"dict[str, {_type(typing.get_args(tp)[1], nested)}]"
    if origin is typing.Literal:
        return type(typing.get_args(tp)[0]).__name__
    if origin is typing.Union:  # the external pools, on `provider`
        nested.extend(typing.get_args(tp))
        return POOL_NAME
    if _is_model(tp):
        nested.append(tp)
        return _class_name(tp)
    if tp is Any:
        return "pulumi.Input[str]"  # sshPrivateKey: a secret Output or a str
    return tp.__name__


def _choices(tp: Any) -> tuple:
    tp = model._unwrap(tp, [], [])
    return typing.get_args(tp) if typing.get_origin(tp) is typing.Literal else ()


def _describe(f: FieldInfo) -> str:
    text = (f.description or "").strip()
    choices = _choices(f.annotation)
    if 1 < len(choices) <= 12 and not all(c in text for c in choices):
        text += f" One of: {', '.join(map(str, choices))}."
    default = f.default
    if default is not PydanticUndefined and default is not None and not isinstance(default, (BaseModel, list, dict)):
        shown = str(default).lower() if isinstance(default, bool) else default
        if f"default {shown}" not in text and f"default `{shown}`" not in text:
            text += f" Default: {shown}."
    return text


def _fields(m: type[BaseModel]) -> dict[str, tuple[Any, FieldInfo]]:
    """{key: (annotation, field)}, skipping a field typed None (in the model only to be refused with a reason)."""
    return {(f.alias or n): (f.annotation, f) for n, f in m.model_fields.items() if f.annotation is not type(None)}


def _typed_dict(m: type[BaseModel], nested: list) -> list[str]:
    lines = [f"class {_class_name(m)}(TypedDict, total=False):"]
    lines += _doc(m.__doc__ or "", "    ") + [""]
    for key, (tp, f) in _fields(m).items():
        annotation = _type(tp, nested)
        lines.append(f"    {key}: {f'Required[{annotation}]' if f.is_required() else annotation}")
        lines += _doc(_describe(f), "    ")
    return lines


def _external_pool(nested: list) -> list[str]:
    """The union of the pool models as one TypedDict: common keys as the base model has them; each cloud's own keys
    optional, described per cloud."""
    common = _fields(model.ExternalPoolModel)
    lines = [f"class {POOL_NAME}(TypedDict, total=False):"]
    lines += _doc(model.ExternalPoolModel.__doc__ or "", "    ") + [""]
    for key, (tp, f) in common.items():
        annotation = PROVIDER_ENUM if key == "provider" else _type(tp, nested)
        lines.append(f"    {key}: {f'Required[{annotation}]' if f.is_required() else annotation}")
        lines += _doc(_describe(f), "    ")
    own: dict[str, list[tuple[str, Any, FieldInfo]]] = {}
    for provider, pool_model in model.PROVIDER_MODELS.items():
        for key, (tp, f) in _fields(pool_model).items():
            if key not in common:
                own.setdefault(key, []).append((provider, tp, f))
    for key, arms in own.items():
        kinds = {_type(tp, nested) for _, tp, _ in arms}
        assert len(kinds) == 1, f"{key} has a different type per provider ({kinds}): the analyzer takes one"
        by_text: dict[str, list[str]] = {}
        for provider, _, f in arms:
            by_text.setdefault(_describe(f), []).append(provider)
        text = " ".join(f"{', '.join(providers)}: {t}" for t, providers in by_text.items())
        lines.append(f"    {key}: {kinds.pop()}")
        lines += _doc(text, "    ")
    return lines


def _provider_enum() -> list[str]:
    lines = [f"class {PROVIDER_ENUM}(str, Enum):"]
    lines += _doc(model.ExternalPoolModel.model_fields["provider"].description or "", "    ") + [""]
    for provider, pool_model in model.PROVIDER_MODELS.items():
        lines.append(f"    {provider.upper().replace('-', '_')} = {provider!r}".replace("'", '"'))
        lines += _doc(pool_model.model_fields["provider"].description or "", "    ")
    return lines


def render() -> str:
    """The text of components/args.py: nested types first, so every annotation names a class defined above it."""
    blocks: list[list[str]] = []
    done: set[str] = set()

    def emit(m: type[BaseModel]) -> None:
        name = _class_name(m)
        if name in done:
            return
        done.add(name)
        nested: list = []
        block = _external_pool(nested) if name == POOL_NAME else _typed_dict(m, nested)
        for child in nested:
            emit(child)
        blocks.append(block)

    blocks.append(_provider_enum())
    done.add(PROVIDER_ENUM)
    emit(model.KosmosConfig)
    return HEADER + "".join("\n\n" + "\n".join(b) + "\n" for b in blocks)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    out = parser.parse_args(argv).out
    out.write_text(render())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

