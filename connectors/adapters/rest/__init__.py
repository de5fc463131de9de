"""The ``rest`` adapter: a legacy JSON/HTTP API, templated path and query."""

from connectors.adapters.rest.adapter import FACTORY, RestAdapter, RestAdapterFactory
from connectors.adapters.rest.settings import RestSettings, StatusOutcome

__all__ = ["FACTORY", "RestAdapter", "RestAdapterFactory", "RestSettings", "StatusOutcome"]
