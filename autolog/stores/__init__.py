"""Tracking stores: where runs, params, metrics, tags, artifact hashes and models are kept.

``Store`` is the one protocol every backend implements; ``open_store(uri)`` picks one by URI.
"""

from __future__ import annotations

from autolog.stores.base import Store, open_store

__all__ = ["Store", "open_store"]
