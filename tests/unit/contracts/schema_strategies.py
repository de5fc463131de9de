"""Hypothesis strategies for Avro schemas, shared by the property tests.

Named types are named after their position (``R_f_a`` is the record in field ``a`` of
field ``f``), so a name is unique inside one schema yet equal across two schemas that put
a type at the same place: that is what makes generated pairs interesting to resolve.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

PRIMITIVES = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]

# A valid default per primitive type, in Avro's JSON encoding.
PRIMITIVE_DEFAULTS: dict[str, Any] = {
    "null": None,
    "boolean": False,
    "int": 0,
    "long": 0,
    "float": 0.5,
    "double": 1.5,
    "bytes": "",
    "string": "",
}


@st.composite
def schemas(draw: st.DrawFn, path: str = "", depth: int = 0) -> Any:
    """An Avro schema object; nesting stops at depth 3."""
    kinds = ["primitive", "primitive", "enum", "fixed"]
    if depth < 3:
        kinds += ["array", "map", "record", "record", "union"]
    kind = draw(st.sampled_from(kinds))
    if kind == "primitive":
        return draw(st.sampled_from(PRIMITIVES))
    if kind == "enum":
        symbols = draw(st.lists(st.sampled_from("ABCD"), min_size=1, max_size=4, unique=True))
        enum: dict[str, Any] = {"type": "enum", "name": f"E{path}", "symbols": symbols}
        if draw(st.booleans()):
            enum["default"] = symbols[0]
        return enum
    if kind == "fixed":
        return {"type": "fixed", "name": f"F{path}", "size": draw(st.sampled_from([2, 4]))}
    if kind in {"array", "map"}:
        key = "items" if kind == "array" else "values"
        return {"type": kind, key: draw(schemas(f"{path}_{key[0]}", depth + 1))}
    if kind == "record":
        return draw(records(path, depth))
    return draw(unions(path, depth))


@st.composite
def records(draw: st.DrawFn, path: str = "", depth: int = 0) -> dict[str, Any]:
    """A record with up to three fields; primitive fields sometimes carry a default."""
    names = draw(st.lists(st.sampled_from("abcd"), max_size=3, unique=True))
    fields = []
    for name in names:
        field_type = draw(schemas(f"{path}_{name}", depth + 1))
        field: dict[str, Any] = {"name": name, "type": field_type}
        if isinstance(field_type, str) and draw(st.booleans()):
            field["default"] = PRIMITIVE_DEFAULTS[field_type]
        fields.append(field)
    return {"type": "record", "name": f"R{path}", "fields": fields}


@st.composite
def unions(draw: st.DrawFn, path: str = "", depth: int = 0) -> list[Any]:
    """A union of distinct primitives, optionally with one record branch."""
    branches: list[Any] = draw(
        st.lists(st.sampled_from(PRIMITIVES), min_size=1, max_size=3, unique=True)
    )
    if draw(st.booleans()):
        branches.append(draw(records(f"{path}_u", depth + 1)))
    return branches
