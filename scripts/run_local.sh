#!/usr/bin/env bash
# `make run`: the stub Loop (seeded demo project and first model) and every node as local processes.
# Ctrl-C stops all of them. State lives in .run/ (delete it for a fresh start).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD/.run
mkdir -p "$ROOT"
export LOOP_USERNAME=${LOOP_USERNAME:-admin} LOOP_PASSWORD=${LOOP_PASSWORD:-admin}
export LOOP_ORGANIZATION=${LOOP_ORGANIZATION:-zauberzeug} LOOP_PROJECT=${LOOP_PROJECT:-demo}
# the trainer node has no default logic; locally it trains with the reference trainer (reference_trainer/)
export LOOP_TRAINER_LOGIC=${LOOP_TRAINER_LOGIC:-loop_reference_trainer.logic:ReferenceTrainerLogic}
STUB_PORT=${STUB_PORT:-8000}
pids=()
stop() { trap - INT TERM EXIT; kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; echo "stopped"; }
trap stop INT TERM EXIT

LOOP_DATA_DIR=$ROOT/stub LOOP_NODE_PORT=$STUB_PORT LOOP_STUB_DEMO=true loop-stub & pids+=($!)
for _ in $(seq 100); do curl -sf "localhost:$STUB_PORT/api/status" >/dev/null && break; sleep 0.2; done
export LOOP_HOST=${LOOP_HOST:-localhost:$STUB_PORT}
for node in ${NODES:-detector:8004 trainer:8005 converter:8006 annotator:8007}; do
  name=${node%%:*}; port=${node##*:}
  if command -v "loop-$name" >/dev/null; then
    LOOP_DATA_DIR=$ROOT/$name LOOP_NODE_PORT=$port "loop-$name" & pids+=($!)
  fi
done
echo "stub Loop on http://localhost:$STUB_PORT (demo project $LOOP_ORGANIZATION/$LOOP_PROJECT); Ctrl-C stops everything"
echo "pages: http://localhost:$STUB_PORT (stub Loop), :8004 (detector), :8005 (trainer), :8006 (converter), :8007 (annotator); API docs at /docs"
wait -n "${pids[@]}"
