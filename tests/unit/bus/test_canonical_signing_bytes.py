"""The bytes every record signature covers must not change with how they are computed:
signed requests, replies and audit events already on topics have to keep verifying."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from hypothesis import given
from hypothesis import strategies as st

from bus import envelope_headers
from bus.envelope_headers import SIGNATURE_HEADER, canonical_signing_bytes

_DOMAIN = b"interop-bus envelope signing v1\n"


def _reference(headers: Sequence[tuple[str, bytes | None]], value: bytes) -> bytes:
    """The format as specified, written plainly (the module computes it faster)."""
    signed = [
        (n, v)
        for n, v in headers
        if n != SIGNATURE_HEADER
        and (n in ("traceparent", "content-type") or n.startswith(("ce_", "interop_")))
    ]
    out = _DOMAIN
    for name, raw in sorted(signed, key=lambda h: (h[0], h[1] is None, h[1] or b"")):
        encoded = name.encode("utf-8", "surrogateescape")
        out += struct.pack(">H", len(encoded) & 0xFFFF) + encoded
        out += struct.pack(">I", 0xFFFF_FFFF) if raw is None else struct.pack(">I", len(raw)) + raw
    return out + struct.pack(">Q", len(value)) + value


_names = st.one_of(
    st.sampled_from(
        ["ce_id", "ce_type", "interop_key_id", SIGNATURE_HEADER, "traceparent", "content-type"]
    ),
    st.text(max_size=12).map(lambda t: "ce_" + t),
    st.text(max_size=12).map(lambda t: "interop_" + t),
    st.text(max_size=12),
)
_headers = st.lists(st.tuples(_names, st.none() | st.binary(max_size=40)), max_size=20)


@given(_headers, st.binary(max_size=200))
def test_matches_the_specified_format(
    headers: list[tuple[str, bytes | None]], value: bytes
) -> None:
    """Any header list (duplicates, missing values, names outside the signed set, the
    signature header itself) encodes exactly as the plain reference does."""
    assert canonical_signing_bytes(headers, value) == _reference(headers, value)


def test_a_known_record_encodes_to_known_bytes() -> None:
    """A fixed vector: a change to the format (not to its speed) fails here."""
    headers = [
        ("ce_type", b"org.interop.request"),
        ("interop_key_id", b"gw-1"),
        ("x-other", b"ignored"),
        ("ce_id", b"01a24939-5395-7101-a071-aa11db744b33"),
        (SIGNATURE_HEADER, b"not covered"),
        ("traceparent", None),
        ("ce_id", b""),
    ]
    encoded = canonical_signing_bytes(headers, b"\x00\x07value")
    assert encoded == _reference(headers, b"\x00\x07value")
    # Computed by the encoder before it was made faster (commit 65be359).
    assert hashlib.sha256(encoded).hexdigest() == (
        "1bfdace1347e9cb8fde52ce555383f5e393dd8cd1e1d035a5663c3da83e55bd8"
    )


def test_hostile_header_names_cannot_grow_the_name_cache() -> None:
    """Header names come from records anyone with write access produced: thousands of
    distinct signed-looking names leave the encoder's name cache bounded, and every
    encoding still matches the reference."""
    for n in range(2_000):
        headers = [(f"interop_x{n}", b"v"), ("ce_id", b"1")]
        assert canonical_signing_bytes(headers, b"") == _reference(headers, b"")
    assert len(envelope_headers._NAME_PREFIXES) <= envelope_headers._MAX_NAME_PREFIXES
