#!/usr/bin/env bash
# `make compat`: the reference client learning_loop_node 0.27 against our stub Loop (and its own AnnotatorNode,
# driven by the stub), then the field's robot client (rosys 0.37's DetectorHardware) against our detector serving
# the stub's demo project.
# Each client lives in a throw-away venv of its own (.venv-reference, .venv-rosys); neither is our dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
REF=.venv-reference
[ -x $REF/bin/python ] || { python3 -m venv $REF && $REF/bin/pip install --quiet "learning_loop_node==0.27.0"; }
ROSYS=.venv-rosys
PINS=$(sha256sum compat/rosys-requirements.txt | cut -d' ' -f1)
if [ "$(cat $ROSYS/.installed 2>/dev/null)" != "$PINS" ]; then  # missing, or installed from other pins
  rm -rf $ROSYS
  python3 -m venv $ROSYS
  $ROSYS/bin/pip install --quiet -r compat/rosys-requirements.txt
  echo "$PINS" > $ROSYS/.installed
fi
WORK=$(mktemp -d)
PORT=${COMPAT_STUB_PORT:-8098}
export COMPAT_DETECTOR_PORT=${COMPAT_DETECTOR_PORT:-8096}
export LOOP_USERNAME=compat LOOP_PASSWORD=compat-pw LOOP_ORGANIZATION=zauberzeug LOOP_PROJECT=demo
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
wait_for() {  # url, what, log: up to 60 s
  for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done
  echo "FAIL $2 did not come up; its log:" >&2; tail -n 40 "$3" >&2; return 1
}
LOOP_DATA_DIR=$WORK/stub LOOP_NODE_PORT=$PORT LOOP_STUB_DEMO=true LOOP_STUB_DEMO_IMAGES=12 \
  .venv/bin/loop-stub > "$WORK/stub.log" 2>&1 &
PIDS+=($!)
wait_for "localhost:$PORT/api/status" "the stub Loop" "$WORK/stub.log"
status=0
echo "== the reference client learning_loop_node 0.27 against the stub Loop"
LOOP_HOST=localhost:$PORT DATA_FOLDER=$WORK/reference $REF/bin/python compat/reference_client_check.py || status=$?
echo "== the reference AnnotatorNode (learning_loop_node 0.27) driven through the stub Loop"
LOOP_HOST=localhost:$PORT LOOP_PROJECT=annotate DATA_FOLDER=$WORK/reference-annotator \
  $REF/bin/python compat/reference_annotator_check.py || status=$?
echo "== the field client rosys $(grep '^rosys==' compat/rosys-requirements.txt | cut -d= -f3) against our detector"
LOOP_HOST=localhost:$PORT LOOP_DATA_DIR=$WORK/detector LOOP_NODE_PORT=$COMPAT_DETECTOR_PORT \
  .venv/bin/loop-detector > "$WORK/detector.log" 2>&1 &
PIDS+=($!)
if wait_for "localhost:$COMPAT_DETECTOR_PORT/ready" "the detector (serving the demo model)" "$WORK/detector.log"; then
  # rosys keeps its own state under ~/.rosys: a throw-away home
  HOME=$WORK/home LOOP_HOST=localhost:$PORT $ROSYS/bin/python compat/rosys_client_check.py || status=$?
  if grep -q Traceback "$WORK/detector.log"; then
    echo "FAIL the detector logged a traceback:" >&2; grep -A 20 Traceback "$WORK/detector.log" >&2; status=1
  fi
else
  status=1
fi
exit $status
