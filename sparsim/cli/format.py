"""Plain-text tables for the terminal: aligned columns, human units (from sparsim.units)."""

from __future__ import annotations

from ..units import human_bytes, human_count, human_seconds, kv_table

__all__ = ["human_bytes", "human_seconds", "human_count", "kv_table"]
