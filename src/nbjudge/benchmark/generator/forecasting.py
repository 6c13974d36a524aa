"""Variants for forecasting tasks."""

from __future__ import annotations

from nbjudge.benchmark.generator.core import VariantRegistry

__all__ = ["register"]


def register(registry: VariantRegistry) -> None:
    """Register the forecasting variants."""
