#!/bin/sh
# Build step shared by the Dockerfiles: install our packages (given as source dirs) into /opt/venv, whose
# third-party dependencies install_deps.py installed in an earlier, cached layer; then drop the build tools.
set -eu
/opt/venv/bin/pip install --no-cache-dir --no-deps --no-build-isolation "$@"
/opt/venv/bin/pip uninstall --yes setuptools wheel >/dev/null
