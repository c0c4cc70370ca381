#!/usr/bin/env bash
# `make image-gpu`: build loop-nodes/detector-gpu offline, from a build context of just what it needs (hard links,
# no copies), so that the 1.5 GB of GPU wheels never enter the other images' build context (.dockerignore).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE_IMAGE=${BASE_IMAGE:-python:3.11-slim-bookworm}
ctx=build/gpu-context
rm -rf "$ctx"
mkdir -p "$ctx/docker" "$ctx/Dockerfiles"
for dir in shared detector; do
  (cd "$dir" && find . -name __pycache__ -prune -o -name '*.egg-info' -prune -o -type f -print) |
    while read -r file; do mkdir -p "$ctx/$dir/$(dirname "$file")"; ln "$dir/$file" "$ctx/$dir/$file"; done
done
cp constraints.txt "$ctx/"
cp docker/install_deps.py docker/build_venv.sh docker/gpu-requirements.txt "$ctx/docker/"
cp -al docker/wheels docker/wheels-gpu "$ctx/docker/"
cp Dockerfiles/detector-gpu.Dockerfile "$ctx/Dockerfiles/"
docker build -q -t loop-nodes/detector-gpu:latest --build-arg BASE_IMAGE="$BASE_IMAGE" \
  -f "$ctx/Dockerfiles/detector-gpu.Dockerfile" "$ctx"
rm -rf "$ctx"
docker images loop-nodes/detector-gpu --format "{{.Repository}}:{{.Tag}}  {{.Size}}"
