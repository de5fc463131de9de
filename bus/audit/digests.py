"""Keyed payload digests for audit events: HMAC-SHA-256, never a plain hash.

Personal data has too little entropy to survive a brute-force guess of an unkeyed
digest (DESIGN.md, *Audit*), so request and response payloads are digested with a key
held by the gateway. The form is ``hmac-sha256:<64 hex>``: self-describing, so a later
algorithm can be told apart in old events.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = ["DIGEST_PREFIX", "payload_digest"]

DIGEST_PREFIX: Final = "hmac-sha256:"


def payload_digest(key: bytes, payload: bytes) -> str:
    """``hmac-sha256:<hex>`` of ``payload`` under ``key`` (at least 16 bytes)."""
    if len(key) < 16:
        raise ValueError("a payload digest key has at least 16 bytes")
    return DIGEST_PREFIX + hmac.new(key, payload, hashlib.sha256).hexdigest()
