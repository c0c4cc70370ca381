#!/usr/bin/env bash
# `make wheels`: download every dependency of the images as wheels into docker/wheels/, for Docker engines
# whose build containers cannot reach PyPI. The Dockerfiles install from there when it holds wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
reqs=$($PY - <<'PYEOF'
import sys
sys.path.insert(0, "docker")
from install_deps import dependencies
print("\n".join(dependencies(["shared", "testkit", "stub_loop", "detector", "trainer", "reference_trainer", "converter",
                                 "annotator"])))
PYEOF
)
rm -f docker/wheels/*.whl  # exactly the pinned set, nothing stale
mkdir -p docker/wheels
# the images run CPython 3.11 on x86_64 Debian bookworm (glibc 2.36)
platforms=""
for minor in $(seq 17 36); do platforms="$platforms --platform manylinux_2_${minor}_x86_64"; done
echo "$reqs" | xargs -d "\n" $PY -m pip download --quiet --dest docker/wheels --only-binary=:all: --constraint constraints.txt \
  --python-version 3.11 --implementation cp --abi cp311 $platforms --platform manylinux2014_x86_64 \
  --platform linux_x86_64 --platform any setuptools wheel
echo "$(ls docker/wheels/*.whl | wc -l) wheels in docker/wheels ($(du -sh docker/wheels | cut -f1))"
