"""FLOP-budgeted export of searched architectures (see ``bundle.py``)."""

from ghnas.export.bundle import WEIGHT_SOURCES, BundleExporter, check_export_config
from ghnas.export.loading import load
from ghnas.export.selection import read_architecture

__all__ = ["WEIGHT_SOURCES", "BundleExporter", "check_export_config", "load", "read_architecture"]
