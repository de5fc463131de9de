"""The console's settings: a checkpoint verifier key is checked when loaded."""

from __future__ import annotations

import pydantic
import pytest

from bus.audit import NoteSigner
from gateway.console import ConsoleSettings


def test_a_valid_verifier_key_is_kept() -> None:
    """A real verifier key string (name+keyid+base64) loads as given."""
    key = NoteSigner.generate("interop-bus.local/audit").verifier.key_string()
    assert ConsoleSettings(checkpoint_key=key).checkpoint_key == key


@pytest.mark.parametrize(
    "key", ["not-a-key", "interop-bus.local/audit+00000000+AAAA", "PRIVATE+KEY+x+1+2"]
)
def test_a_malformed_verifier_key_is_refused_at_load(key: str) -> None:
    """A key that is not a verifier key fails when the settings load, not at first use."""
    with pytest.raises(pydantic.ValidationError) as caught:
        ConsoleSettings(checkpoint_key=key)
    assert caught.value.errors()[0]["loc"] == ("checkpoint_key",)
