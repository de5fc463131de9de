"""Strict JSON bodies for every API: one reader, one set of refusals.

UTF-8 only; duplicated keys, ``NaN``/``Infinity`` and nesting deeper than ``MAX_DEPTH``
are refused, each with a sentence that quotes no input (a body can hold identifiers) and
no interpreter internals. The depth is checked before parsing, so a hostile body never
reaches the parser's recursion limit.
"""

from __future__ import annotations

import json
from typing import Any, Final

import pydantic

from gateway.errors import FieldProblem, InvalidRequestError

__all__ = ["MAX_DEPTH", "field_problems", "json_pointer", "load_json_object"]

MAX_DEPTH: Final = 32
"""No request of ours nests deeper; a deeper body is refused before it is parsed."""


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"the key {key[:40]!r} appears twice in one object")
        result[key] = value
    return result


def _refuse_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _too_deep(text: str) -> bool:
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif char in "]}":
            depth -= 1
    return False


def load_json_object(body: bytes) -> dict[str, Any]:
    """``body`` as a JSON object, or ``InvalidRequestError`` saying what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRequestError("the body is not UTF-8") from None
    if _too_deep(text):
        raise InvalidRequestError(
            f"the body nests deeper than {MAX_DEPTH} levels",
            [FieldProblem("", f"at most {MAX_DEPTH} levels of objects and arrays")],
        )
    try:
        document = json.loads(
            text, parse_constant=_refuse_constant, object_pairs_hook=_no_duplicates
        )
    except json.JSONDecodeError as exc:
        raise InvalidRequestError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except ValueError as exc:
        if "int_max_str_digits" in str(exc):  # Python's own wording names its internals
            raise InvalidRequestError(
                "the body is not acceptable JSON: a number has more than 4300 digits"
            ) from None
        raise InvalidRequestError(f"the body is not acceptable JSON: {exc}") from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise InvalidRequestError("the body nests too deeply") from None
    if not isinstance(document, dict):
        raise InvalidRequestError(
            "the body must be a JSON object", [FieldProblem("", "expected an object")]
        )
    return document


def json_pointer(loc: tuple[int | str, ...]) -> str:
    """RFC 6901 pointer of a pydantic error location."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in loc)


# pydantic names the model class for a non-object where an object is wanted ("a valid
# dictionary or instance of BatchItemModel"): say what the caller must send instead.
_PLAIN_MESSAGES: Final = {"model_type": "expected an object", "dict_type": "expected an object"}


def field_problems(exc: pydantic.ValidationError, prefix: str = "") -> list[FieldProblem]:
    """One problem per pydantic error, pointed at by ``prefix`` + its location; a list's
    length error left out when one of its items failed (``[1]`` where one text is needed
    is one problem, not also "at least 1 item after validation, not 0")."""
    # ``input`` left out: it would echo what the caller sent (a subject's identifier).
    errors = exc.errors(include_input=False, include_url=False)
    failed_items = {err["loc"][:-1] for err in errors if err["loc"]}
    return [
        FieldProblem(
            prefix + json_pointer(err["loc"]),
            _PLAIN_MESSAGES.get(err["type"]) or err["msg"].removeprefix("Value error, "),
        )
        for err in errors
        if not (err["type"] == "too_short" and err["loc"] in failed_items)
    ]
