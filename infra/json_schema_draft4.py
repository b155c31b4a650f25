"""Convert a JSON Schema (draft 2020-12, as pydantic v2 exports it) to draft 4.

API Gateway validates request bodies with JSON Schema draft 4 only. The message model is
the one source of truth, so its export is translated here rather than written twice:

- `$defs` become `definitions`, and `#/$defs/…` references follow them;
- `const` becomes a one-value `enum`;
- numeric `exclusiveMinimum`/`exclusiveMaximum` become draft 4's boolean modifiers of
  `minimum`/`maximum`;
- `prefixItems` (+ `items`) become the array form of `items` (+ `additionalItems`);
- `dependentRequired`/`dependentSchemas` become `dependencies`;
- `true`/`false` sub-schemas become `{}` and `{"not": {}}`;
- a `$ref` with sibling keywords is wrapped in `allOf`, because draft 4 ignores siblings;
- keywords that only annotate (`examples`, `deprecated`, `readOnly`, …) are dropped;
- JSON `null` is written without a null value (`const: null` → `type: "null"`, `null` in an
  `enum` → an `anyOf` branch, `default: null` dropped): the schema travels to CloudFormation
  through CDK, which drops every null, and an `enum` silently losing its null would reject
  what the model accepts.

Keywords that constrain and have no draft 4 form (`if`, `contains`, `propertyNames`, …)
raise `UnsupportedKeywordError`: silently dropping them would let the API accept messages
the model rejects, and the conversion is tested to accept and reject exactly the same ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

DRAFT4_URI: Final = "http://json-schema.org/draft-04/schema#"

# Annotations draft 4 does not know; removing them changes no validation result.
_DROPPED: Final = frozenset(
    {
        "$comment",
        "$anchor",
        "$dynamicAnchor",
        "$vocabulary",
        "examples",
        "deprecated",
        "readOnly",
        "writeOnly",
        "contentEncoding",
        "contentMediaType",
        "contentSchema",
        "discriminator",  # OpenAPI's, emitted by pydantic for tagged unions; oneOf still holds
    }
)
# Constraints with no draft 4 equivalent.
_UNSUPPORTED: Final = frozenset(
    {
        "if",
        "then",
        "else",
        "contains",
        "minContains",
        "maxContains",
        "propertyNames",
        "unevaluatedItems",
        "unevaluatedProperties",
        "$dynamicRef",
        "$recursiveRef",
    }
)
# Keywords whose value is one sub-schema, a list of them, or a map of name → sub-schema.
_ONE_SCHEMA: Final = frozenset({"not", "additionalProperties", "additionalItems"})
_SCHEMA_LIST: Final = frozenset({"allOf", "anyOf", "oneOf"})
_SCHEMA_MAP: Final = frozenset({"properties", "patternProperties"})


class UnsupportedKeywordError(ValueError):
    """The schema uses a keyword draft 4 cannot express."""


def to_draft4(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Return `schema` rewritten for JSON Schema draft 4; the input is left untouched."""
    root = dict(schema)
    definitions = {**root.pop("definitions", {}), **root.pop("$defs", {})}
    root.pop("$schema", None)
    converted = _convert(root, path="#")
    if definitions:
        converted["definitions"] = {
            name: _convert(sub, path=f"#/definitions/{name}") for name, sub in definitions.items()
        }
    return {"$schema": DRAFT4_URI, **converted}


def _convert(schema: object, *, path: str) -> dict[str, Any]:
    if schema is True:
        return {}
    if schema is False:
        return {"not": {}}
    if not isinstance(schema, Mapping):
        raise TypeError(f"{path}: a schema must be an object or a boolean, got {schema!r}")

    unsupported = _UNSUPPORTED.intersection(schema)
    if unsupported:
        raise UnsupportedKeywordError(
            f"{path}: draft 4 has no form of {', '.join(sorted(unsupported))}"
        )
    if "$defs" in schema or "definitions" in schema:
        # pydantic collects every definition at the root; nested ones would need their
        # references rewritten relative to where they sit, which nothing here needs yet.
        raise UnsupportedKeywordError(f"{path}: definitions are only supported at the root")

    out: dict[str, Any] = {}
    for key, value in schema.items():
        _convert_member(out, key, value, where=f"{path}/{key}")

    _convert_bounds(schema, out)
    _convert_items(schema, out, path=path)
    _move_null_out_of_enum(out)

    if "$ref" in out and len(out) > 1:
        # Draft 4 ignores every keyword beside `$ref`; `allOf` keeps them all in force.
        ref = out.pop("$ref")
        out = {"allOf": [{"$ref": ref}], **out}
    return out


def _move_null_out_of_enum(out: dict[str, Any]) -> None:
    """`enum: [..., null]` → `allOf: [{anyOf: [{enum: [...]}, {type: "null"}]}]`."""
    enum = out.get("enum")
    if not isinstance(enum, list) or None not in enum:
        return
    values = [value for value in enum if value is not None]
    del out["enum"]
    alternatives: dict[str, Any] = (
        {"anyOf": [{"enum": values}, {"type": "null"}]} if values else {"type": "null"}
    )
    # In an allOf of its own, so it cannot clash with this schema's `type` or `anyOf`.
    out.setdefault("allOf", []).append(alternatives)


def _rewrite_ref(ref: object, *, path: str) -> str:
    if not isinstance(ref, str):
        raise TypeError(f"{path}: $ref must be a string")
    if ref.startswith("#/$defs/"):
        return "#/definitions/" + ref.removeprefix("#/$defs/")
    if ref == "#" or ref.startswith("#/"):
        return ref
    raise UnsupportedKeywordError(f"{path}: only local references are supported, got {ref!r}")


# Keywords left out here: dropped, or converted together afterwards (bounds, items).
_LATER_OR_DROPPED: Final = frozenset(
    {*_DROPPED, "exclusiveMinimum", "exclusiveMaximum", "items", "prefixItems"}
)


def _convert_member(out: dict[str, Any], key: str, value: Any, *, where: str) -> None:
    """One keyword of a schema, written into `out` in draft 4's form."""
    if key in _LATER_OR_DROPPED or (key == "default" and value is None):
        return  # a null default is an annotation only, and CDK would drop it anyway
    if key == "$ref":
        out[key] = _rewrite_ref(value, path=where)
    elif key == "$id":
        out["id"] = value
    elif key == "const":
        out["enum"] = [value]
    elif key in _ONE_SCHEMA:
        # Draft 4 allows a boolean for additionalProperties/additionalItems, as is.
        keep_bool = isinstance(value, bool) and key != "not"
        out[key] = value if keep_bool else _convert(value, path=where)
    elif key in _SCHEMA_LIST:
        out[key] = [_convert(item, path=f"{where}/{i}") for i, item in enumerate(value)]
    elif key in _SCHEMA_MAP:
        out[key] = {name: _convert(sub, path=f"{where}/{name}") for name, sub in value.items()}
    elif key in ("dependentRequired", "dependentSchemas", "dependencies"):
        _convert_dependencies(out.setdefault("dependencies", {}), key, value, where=where)
    else:
        out[key] = value


def _convert_dependencies(
    deps: dict[str, Any], key: str, value: Mapping[str, Any], *, where: str
) -> None:
    """Draft 2019's `dependentRequired`/`dependentSchemas` (and draft 4's own
    `dependencies`) merged into draft 4's `dependencies`."""
    for name, dep in value.items():
        keep = key == "dependentRequired" or (key == "dependencies" and isinstance(dep, list))
        deps[name] = dep if keep else _convert(dep, path=f"{where}/{name}")


def _convert_bounds(schema: Mapping[str, Any], out: dict[str, Any]) -> None:
    """Numeric exclusive bounds (draft 6+) → draft 4's `minimum` + `exclusiveMinimum: true`."""
    for exclusive, inclusive, sign in (
        ("exclusiveMinimum", "minimum", 1),
        ("exclusiveMaximum", "maximum", -1),
    ):
        if exclusive not in schema:
            continue
        bound = schema[exclusive]
        if isinstance(bound, bool):  # already draft 4's form
            out[exclusive] = bound
            continue
        inclusive_bound = schema.get(inclusive)
        # With both bounds present, keep the stricter one: x > b beats x >= m when b >= m
        # (and mirrored for the maximum).
        if inclusive_bound is None or sign * bound >= sign * inclusive_bound:
            out[inclusive] = bound
            out[exclusive] = True


def _convert_items(schema: Mapping[str, Any], out: dict[str, Any], *, path: str) -> None:
    """`prefixItems` + `items` (2020-12) → `items` as a list + `additionalItems` (draft 4)."""
    items = schema.get("items")
    if "prefixItems" in schema:
        out["items"] = [
            _convert(sub, path=f"{path}/prefixItems/{i}")
            for i, sub in enumerate(schema["prefixItems"])
        ]
        if items is not None:
            out["additionalItems"] = (
                items if isinstance(items, bool) else _convert(items, path=f"{path}/items")
            )
    elif isinstance(items, list):  # draft 4-7 tuple form: already right
        out["items"] = [_convert(sub, path=f"{path}/items/{i}") for i, sub in enumerate(items)]
    elif items is not None:
        out["items"] = _convert(items, path=f"{path}/items")
