"""Datasets (a registry of entries returning ``DatasetSplits``) and image batches."""

# The entry modules are imported for their side effect: registering in DATASET_REGISTRY.
from ghnas.data import datasets, image_folder  # noqa: F401
from ghnas.data.batches import TrainBatchStream, evaluation_batches
from ghnas.data.build import DATASET_REGISTRY, build_dataset
from ghnas.data.metadata import DatasetMetadata, DatasetSplits
from ghnas.data.tensor_dataset import TensorImageDataset

__all__ = [
    "DATASET_REGISTRY",
    "build_dataset",
    "DatasetMetadata",
    "DatasetSplits",
    "TensorImageDataset",
    "TrainBatchStream",
    "evaluation_batches",
]
