#!/usr/bin/env bash
# benchmarks/gpu_acceptance.py on an offline GPU machine, run from the repository root.
# Stage it here first (fills the git-ignored .device/):
#   ../shared/device/prepare-offline-gpu.sh cifar10/cifar10-12k.npz nasbench201/nasbench201.csv
# and carry .device and projects/NASBench201/ghnas_nasbench201.egg-info: with that folder on
# PYTHONPATH the nasbench201 plug-in's entry point is found without installing anything.
#   bash benchmarks/gpu_acceptance.sh "$OUT/acceptance.json" [more gpu_acceptance.py flags]
set -euo pipefail
out=${1:-output/gpu_acceptance.json}
shift || true
if [ ! -d projects/NASBench201/ghnas_nasbench201.egg-info ]; then
  echo "gpu_acceptance.sh: carry projects/NASBench201/ghnas_nasbench201.egg-info (the plug-in's entry point)" >&2
  exit 2
fi
python3 -m pip install -q --no-index --no-deps --target /tmp/site .device/wheels/*.whl
export PYTHONPATH=/tmp/site:$PWD:$PWD/projects/NASBench201
exec python3 benchmarks/gpu_acceptance.py --device cuda --data .device/data/cifar10-12k.npz \
  --table .device/data/nasbench201.csv --out "$out" "$@"
