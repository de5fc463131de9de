"""What sealing and opening personal fields cost per exchange, on this CPU (no broker).

The gateway seals a request's personal fields for its provider (one AES-256-GCM data key
per request, each field encrypted under it, the key wrapped for the provider's X25519 key:
one ephemeral key pair and one Diffie-Hellman); the connector unwraps the key and opens
the fields. This runs exactly ``bus.field_encryption``'s two sides over a request shaped
like the tax agency's (one personal field, the NIF) and like the register's (two)::

    python -m benchmarks.sealing_cost [--exchanges 2000]
"""

from __future__ import annotations

import argparse
import uuid

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from benchmarks.stats import time_per_call
from bus import FieldOpener, FieldSealer, RecipientKey

__all__ = ["measure_sealing", "measure_sealing_by_process"]

_REQUEST = {"document_type": "DNI", "document_number": "12345678Z", "fiscal_year": 2025}
_PERSONAL = ("document_number", "document_type")


def _one_exchange(sealer: FieldSealer, opener: FieldOpener, recipient: RecipientKey) -> None:
    exchange_id = str(uuid.uuid4())
    sealed, field_key = sealer.seal(
        _REQUEST, _PERSONAL, exchange_id=exchange_id, recipient=recipient
    )
    opened = opener.open(sealed, _PERSONAL, exchange_id=exchange_id, field_key=field_key)
    assert opened == _REQUEST  # noqa: S101 - a benchmark of the accepted path


def measure_sealing_by_process(exchanges: int) -> dict[str, tuple[float, float]]:
    """(median, p99) microseconds of sealing (the gateway) and of opening (the provider's
    connector) one request's personal fields."""
    private = X25519PrivateKey.generate()
    recipient = RecipientKey("bench-enc-1", private.public_key())
    sealer, opener = FieldSealer(), FieldOpener({"bench-enc-1": private})
    exchange_id = str(uuid.uuid4())
    sealed, field_key = sealer.seal(
        _REQUEST, _PERSONAL, exchange_id=exchange_id, recipient=recipient
    )
    return {
        "gateway": time_per_call(
            lambda: sealer.seal(_REQUEST, _PERSONAL, exchange_id=exchange_id, recipient=recipient),
            calls=exchanges,
        ),
        "connector": time_per_call(
            lambda: opener.open(sealed, _PERSONAL, exchange_id=exchange_id, field_key=field_key),
            calls=exchanges,
        ),
    }


def measure_sealing(exchanges: int) -> tuple[float, float]:
    """(median, p99) microseconds of sealing and opening one request's personal fields."""
    private = X25519PrivateKey.generate()
    recipient = RecipientKey("bench-enc-1", private.public_key())
    sealer, opener = FieldSealer(), FieldOpener({"bench-enc-1": private})
    return time_per_call(lambda: _one_exchange(sealer, opener, recipient), calls=exchanges)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--exchanges", type=int, default=2000)
    args = parser.parse_args()
    median, p99 = measure_sealing(args.exchanges)
    print(
        f"sealing + opening personal fields per exchange (2 fields): median {median:.0f} us, "
        f"p99 {p99:.0f} us over {args.exchanges} exchanges"
    )


if __name__ == "__main__":
    main()
