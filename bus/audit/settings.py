"""Settings of the audit trail and its indexer (one nested model of the gateway's settings).

The signing key is a ``SecretStr`` in Go's ``note.NewSigner`` form
(``PRIVATE+KEY+<name>+<keyid>+<base64>``); its name should be the log's origin, as C2SP
advises. Without a key the indexer still indexes, but signs no checkpoint (the audit API
then answers 503 for the checkpoint and proofs).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, field_validator

from bus.audit.errors import InvalidKeyError
from bus.audit.note_keys import NoteSigner
from bus.errors import InvalidTopicNameError
from bus.topics import AUDIT_TOPIC, check_kafka_topic_name

__all__ = ["AuditIndexerSettings", "AuditSettings"]


def _topic(text: str) -> str:
    try:
        return check_kafka_topic_name(text)
    except InvalidTopicNameError as exc:
        raise ValueError(exc.message) from exc


class AuditIndexerSettings(BaseModel):
    """The indexer that turns the audit topic into the index and the Merkle log."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    """Run the indexer inside the gateway process (replicas sharing a database may all
    run it: only the member owning the audit partition appends)."""
    origin: Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s+]+$")] = (
        "interop-bus.local/audit"
    )
    """The checkpoint origin line: which log (C2SP recommends a schema-less URL)."""
    signing_key: SecretStr | None = None
    """Ed25519 signer key (``PRIVATE+KEY+...``) of the checkpoints."""
    checkpoint_every: Annotated[int, Field(ge=1, le=10_000_000)] = 1000
    """Sign a checkpoint at least every this many events..."""
    checkpoint_interval_s: Annotated[float, Field(gt=0, le=86_400)] = 10.0
    """... or this often, when the log grew since the last one."""
    batch_size: Annotated[int, Field(ge=1, le=10_000)] = 500
    """At most this many events per transaction."""

    @field_validator("signing_key")
    @classmethod
    def _signer(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None:
            try:
                NoteSigner.parse(key.get_secret_value())
            except InvalidKeyError:
                # Not the parser's message: it could quote part of the secret.
                raise ValueError("is not a note signer key (PRIVATE+KEY+name+id+key)") from None
        return key

    def signer(self) -> NoteSigner | None:
        """The parsed signer, or None when no key is configured."""
        if self.signing_key is None:
            return None
        return NoteSigner.parse(self.signing_key.get_secret_value())


class AuditSettings(BaseModel):
    """Where audit events go, how long a write may take, and the indexer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    topic: Annotated[str, AfterValidator(_topic)] = AUDIT_TOPIC.name
    """The audit topic (one partition). Only tests and separate deployments change it."""
    write_timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    """How long an audit write may wait for the broker's acknowledgement."""
    digest_key: SecretStr | None = None
    """HMAC key of the payload digests (at least 32 characters). Give the connectors the
    same key (their ``audit_digest_key``): the gateway's and the provider's digests of one
    request then match, which an auditor can check. Default: derived from the subject key."""

    @field_validator("digest_key")
    @classmethod
    def _digest_key_long_enough(cls, key: SecretStr | None) -> SecretStr | None:
        if key is not None and len(key.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters")
        return key

    indexer: AuditIndexerSettings = AuditIndexerSettings()
    verify_events: bool = True
    """The indexer admits into the log only events signed by their actor, who may write
    their type (keys and roles from the members file); the rest are quarantined.
    ``false`` is for development only."""
