"""The HTTP gateway that back-office systems, citizen portals and auditors call.

``gateway.app.create_app`` composes one replica (the ``interop gateway`` command runs it);
the modules own one concern each: ``exchanges_api``/``exchanges`` the exchanges API and its
lifecycle, ``exchange_states`` the state machine with its audit events, ``audit_outbox``
owed closing events, ``replies`` the reply sink and expiry, ``reply_verification`` what a
reply must prove, ``consent/`` the consent registry and decisions, ``audit_api`` and
``accesses_api`` the audit log and citizens' accesses, ``store/`` the exchange stores,
``auth``, ``rate_limit``, ``http_hardening`` and ``http_server`` the edge, ``ops_api``
health, readiness and metrics. Other packages use ``create_app`` and the settings; the
rest is this package's own.
"""

from gateway.app import GATEWAY_KEY, Gateway, create_app
from gateway.settings import GatewaySettings

__all__ = ["GATEWAY_KEY", "Gateway", "GatewaySettings", "create_app"]
