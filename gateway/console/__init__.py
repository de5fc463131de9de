"""The web console for auditors and citizens, served by the gateway under ``/console/``.

Server-rendered pages (Jinja2), vendored static files, a strict Content-Security-Policy,
server-side sessions with CSRF tokens; the same roles and the same query and consent code
as the API (``docs/console.md``). ``gateway.console.mount.console_app`` builds it; only
the settings are imported from here (``gateway.settings`` needs them, and the pages
import the gateway's API modules, which import ``gateway.settings``).
"""

from gateway.console.settings import ConsoleSettings

__all__ = ["ConsoleSettings"]
