"""Batch exchanges (issue #17): thousands of subjects in one request, each its own exchange.

``POST /v1/batches`` validates the whole batch and stores it (``request``, ``service``,
``store_sqlite``/``store_postgres``); the ``worker`` of whichever replica holds its lease
sends the items as exchanges at a per-provider rate (``pacing``); ``api`` serves progress,
results (``results``: NDJSON or CSV, resumable) and cancellation. ``docs/batches.md``.
"""

from gateway.batches.api import BATCHES_PATH, add_batch_routes
from gateway.batches.backends import open_batch_store
from gateway.batches.metrics import BatchMetrics
from gateway.batches.pacing import ProviderPacer
from gateway.batches.records import BatchItem, BatchRecord, BatchStore, ItemStatus, NewItem
from gateway.batches.service import BatchService, UnknownBatchError
from gateway.batches.worker import BatchWorker

__all__ = [
    "BATCHES_PATH",
    "BatchItem",
    "BatchMetrics",
    "BatchRecord",
    "BatchService",
    "BatchStore",
    "BatchWorker",
    "ItemStatus",
    "NewItem",
    "ProviderPacer",
    "UnknownBatchError",
    "add_batch_routes",
    "open_batch_store",
]
