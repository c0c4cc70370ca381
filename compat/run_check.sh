#!/usr/bin/env bash
# `make compat`: the reference client learning_loop_node 0.27 against our stub Loop.
# Installs the reference client into a throw-away venv (.venv-reference); it is never our dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=.venv-reference
[ -x $REF/bin/python ] || { python3 -m venv $REF && $REF/bin/pip install --quiet "learning_loop_node==0.27.0"; }
WORK=$(mktemp -d)
PORT=${COMPAT_STUB_PORT:-8098}
export LOOP_USERNAME=compat LOOP_PASSWORD=compat-pw LOOP_ORGANIZATION=zauberzeug LOOP_PROJECT=demo
LOOP_DATA_DIR=$WORK/stub LOOP_NODE_PORT=$PORT LOOP_STUB_DEMO=true LOOP_STUB_DEMO_IMAGES=12 \
  .venv/bin/loop-stub > "$WORK/stub.log" 2>&1 &
STUB=$!
for _ in $(seq 100); do curl -sf "localhost:$PORT/api/status" >/dev/null && break; sleep 0.2; done
status=0
LOOP_HOST=localhost:$PORT DATA_FOLDER=$WORK/reference $REF/bin/python compat/reference_client_check.py || status=$?
kill $STUB 2>/dev/null || true
wait $STUB 2>/dev/null || true
rm -rf "$WORK"
exit $status
