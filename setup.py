"""Packaging of ghnas: ``pip install -e .`` (add ``.[test]`` for pytest and ruff)."""

from setuptools import find_packages, setup

setup(
    name="ghnas",
    version="0.1.0",
    description="Neural architecture search with Graph HyperNetworks",
    packages=find_packages(
        exclude=("tests", "tests.*", "configs", "tools", "benchmarks", "projects")
    ),
    python_requires=">=3.10",
    # torch/torchvision: the results were produced with 2.14.1 / 0.29.1; any later 2.x release
    # is accepted, so installing ghnas never replaces a user's newer torch. The lower bounds of
    # the others are the oldest releases that still support Python 3.10; on Python >= 3.11 a
    # fresh install resolves to the newest release below the upper bound.
    install_requires=[
        "torch>=2.14.1,<3",
        "torchvision>=0.29.1,<1",
        "fvcore>=0.1.5",
        "iopath>=0.1.9,<0.1.11",  # fvcore needs >=0.1.7; 0.1.10 is the newest release
        "yacs>=0.1.8,<0.2",
        "tabulate>=0.9,<1",
        "timm>=1.0,<2",
        "numpy>=2.2,<3",
        "scipy>=1.15,<2",
        "scikit-learn>=1.7,<2",
        "matplotlib>=3.10,<4",
        "pyyaml>=6.0,<7",
    ],
    extras_require={"test": ["pytest>=8", "ruff==0.17.6"]},
)
