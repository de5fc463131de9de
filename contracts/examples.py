"""A valid example of a version's request, as JSON, for documentation and fuzzing.

The OpenAPI document of the gateway carries one example body per served service version
(``gateway/openapi.py``), so an API fuzzer starts from requests that pass the schema and
reach the consent and exchange logic instead of stopping at a 400. The subject fields
(``subject_fields``) hold the given subject, so the example also passes the gateway's
data/subject check. Every example is checked against its schema by ``json_to_avro`` in
the tests.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, Final

from contracts.catalogue import ContractVersion

__all__ = ["example_request_data"]

_LOGICAL: Final[dict[str, Any]] = {
    "date": "2024-01-01",
    "time-millis": "12:00:00",
    "time-micros": "12:00:00",
    "timestamp-millis": "2024-01-01T12:00:00Z",
    "timestamp-micros": "2024-01-01T12:00:00Z",
    "local-timestamp-millis": "2024-01-01T12:00:00",
    "local-timestamp-micros": "2024-01-01T12:00:00",
    "decimal": "1.00",
    "uuid": "01a24622-ec5e-7233-9805-a5d4245b672c",
}
_PRIMITIVE: Final[dict[str, Any]] = {
    "null": None,
    "boolean": True,
    "int": 2024,
    "long": 2024,
    "float": 1.0,
    "double": 1.0,
    "string": "example",
    "bytes": "",
}


def example_request_data(version: ContractVersion, subject: str) -> dict[str, Any]:
    """JSON ``data`` for ``version``'s request schema, naming ``subject``."""
    data = _example(version.request)
    if not isinstance(data, dict):  # pragma: no cover - request schemas are records
        raise TypeError("a request schema is a record")
    for path in version.meta.subject_fields:
        node: dict[str, Any] = data
        *parents, leaf = path.split(".")
        for name in parents:
            node = node[name]
        node[leaf] = subject
    return data


def _example(schema: Any) -> Any:
    if isinstance(schema, str):
        return _PRIMITIVE.get(schema)
    if isinstance(schema, list):
        # A union: its first branch (``null`` for optional fields, as they default to it).
        return _example(schema[0])
    logical = schema.get("logicalType")
    if logical in _LOGICAL:
        return _LOGICAL[logical]
    kind = schema.get("type")
    build = _COMPLEX.get(kind) if isinstance(kind, str) else None
    return build(schema) if build is not None else _example(kind)


_COMPLEX: Final[dict[str, Callable[[dict[str, Any]], Any]]] = {
    "record": lambda s: {f["name"]: _example(f["type"]) for f in s["fields"]},
    "enum": lambda s: s["symbols"][0],
    "array": lambda s: [_example(s["items"])],
    "map": lambda s: {"key": _example(s["values"])},
    "fixed": lambda s: base64.b64encode(bytes(s["size"])).decode("ascii"),
}
