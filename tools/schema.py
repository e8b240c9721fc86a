"""`make schema`: write the kosmos component package's schema to build/schema.json (and provider/schema.json),
exactly as the Pulumi SDK infers it (pulumi.provider.experimental.ComponentProvider, which component_provider_host
serves), and the JSON Schema of stack files, generated from the typed config model (components/model.py), to
stacks/kosmos-config.schema.json.

The plugin (provider/__main__.py) imports the installed `kosmos`; here the same component comes from this checkout
(`components`), which is the same code: the schema names no Python module.
"""

from __future__ import annotations

import argparse
import json
import pathlib

from pulumi.provider.experimental.component import ComponentProvider

import components
from components import MulticloudCluster, model

from .engine import REPO

NAME = "kosmos"
COMPONENTS = [MulticloudCluster]
OUT = REPO / "build" / "schema.json"
COMMITTED = REPO / "provider" / "schema.json"
"""A committed copy, so review shows every change of the package's interface (tests fail when it is stale)."""
STACK_SCHEMA = REPO / "stacks" / model.SCHEMA_ID
"""The stack files' schema; each stack file names it in its first line (yaml-language-server modeline)."""


def infer_schema() -> dict:
    """The package schema the SDK serves from GetSchema."""
    provider = ComponentProvider(COMPONENTS, NAME, None, components.__version__)
    return json.loads(provider.schema)


def render(schema: dict) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=pathlib.Path, default=OUT)
    parser.add_argument("--stack-out", type=pathlib.Path, default=STACK_SCHEMA, help="the stack files' JSON Schema")
    args = parser.parse_args()
    out = args.out
    text = render(infer_schema())
    for path in (out, COMMITTED):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path}")
    args.stack_out.write_text(render(model.stack_file_schema()))
    print(f"wrote {args.stack_out}")


if __name__ == "__main__":
    main()
