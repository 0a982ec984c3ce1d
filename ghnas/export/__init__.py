"""FLOP-budgeted export of searched architectures (see ``bundle.py``)."""

from ghnas.export.bundle import WEIGHT_SOURCES, BundleExporter
from ghnas.export.loading import load
from ghnas.export.selection import read_architecture

__all__ = ["WEIGHT_SOURCES", "BundleExporter", "load", "read_architecture"]
