#!/usr/bin/env bash
# `make wheels-gpu`: the wheels the GPU detector image adds to the detector's (onnxruntime-gpu with CUDA and cuDNN,
# about 1.5 GB), into docker/wheels-gpu/, for Docker engines whose build containers cannot reach PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
rm -f docker/wheels-gpu/*.whl
platforms=""
for minor in $(seq 17 36); do platforms="$platforms --platform manylinux_2_${minor}_x86_64"; done
# shellcheck disable=SC2086
$PY -m pip download --quiet --dest docker/wheels-gpu --only-binary=:all: --no-deps -r docker/gpu-requirements.txt \
  --python-version 3.11 --implementation cp --abi cp311 $platforms --platform manylinux2014_x86_64 \
  --platform manylinux2010_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_5_x86_64 \
  --platform manylinux_2_12_x86_64 --platform any
echo "$(ls docker/wheels-gpu/*.whl | wc -l) wheels in docker/wheels-gpu ($(du -sh docker/wheels-gpu | cut -f1))"
