"""Consent, oppositions and legal basis: the registry, its API and the gateway's decision.

``ConsentRegistry`` records and revokes consents and oppositions (audited) and decides each
exchange by the service's consent mode (``policy.decide``); ``add_consent_routes`` mounts
the HTTP API; ``open_consent_store(url)`` opens the registry in the exchange store's
database; ``normalise_subject``/``subject_pseudonym`` give every identifier one form and
one keyed pseudonym.
"""

from gateway.consent.api import add_consent_routes
from gateway.consent.backends import open_consent_store
from gateway.consent.policy import Decision, DenyRule, Reason, decide
from gateway.consent.records import Consent, ConsentState, EvidenceChannel, Opposition
from gateway.consent.registry import ConsentGrant, ConsentRegistry, OppositionGrant
from gateway.consent.store import ConsentStore
from gateway.consent.subjects import InvalidSubjectError, normalise_subject, subject_pseudonym

__all__ = [
    "Consent",
    "ConsentGrant",
    "ConsentRegistry",
    "ConsentState",
    "ConsentStore",
    "Decision",
    "DenyRule",
    "EvidenceChannel",
    "InvalidSubjectError",
    "Opposition",
    "OppositionGrant",
    "Reason",
    "add_consent_routes",
    "decide",
    "normalise_subject",
    "open_consent_store",
    "subject_pseudonym",
]
