# The one command surface. Every target uses .venv/ and creates it first when needed.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVICES := shared testkit stub_loop detector trainer reference_trainer converter annotator
PYPROJECTS := $(addsuffix /pyproject.toml,$(SERVICES))

.PHONY: install test test-deps demo-model lint run bench chaos e2e images base-image wheels wheels-gpu image-gpu \
	e2e-gpu up down clean help compat lock swarm-up swarm-down swarm-e2e mutate

help:
	@echo "make install   create .venv with every service, the stub Loop and the dev tools"
	@echo "make run       stub Loop (seeded demo) and the four nodes as local processes"
	@echo "make test      the hermetic test suite (no Docker, no network)"
	@echo "make lint      ruff and mypy"
	@echo "make bench     benchmarks; figures printed and written to bench/results/"
	@echo "make chaos     kill -9, outages, restarts, a hostile Loop, big input, fuzzing; chaos/results/"
	@echo "make mutate    mutation testing (mutmut) of the guarantee-carrying modules; bench/results/mutation.md"
	@echo "make up        build the images and start the compose stack (stub Loop + nodes) in Docker"
	@echo "make e2e       build the images, run the compose stack, play the whole loop, tear down"
	@echo "make swarm-up  build the images and deploy deploy/swarm/stack.yml as stack $(STACK) (swarm init if needed)"
	@echo "make swarm-down  remove the stack $(STACK) (its volumes stay)"
	@echo "make swarm-e2e the stack on a single-node swarm: replicas, a kill, a rolling update, converter replicas"
	@echo "make images    build the node, reference trainer, stub, example and Swarm balancer images (BASE_IMAGE=$(BASE_IMAGE))"
	@echo "make image-gpu build the detector for NVIDIA GPUs (onnxruntime-gpu, CUDA and cuDNN wheels, 1.5 GB)"
	@echo "make compat    the reference client learning_loop_node 0.27 against the stub Loop, rosys against the detector"
	@echo "make demo-model  train the demo project's first model again (stub_loop/stub_loop/demo_model/)"

$(STAMP): $(PYPROJECTS) requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt $(addprefix -e ./,$(SERVICES)) -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP) test-deps
	$(BIN)/pytest

# the page tests (tests/pages/) drive a real headless Chromium, the fsync test strace; apt installs them where
# missing and possible (in CI, where impossible, the run fails)
test-deps:
	@bash scripts/test_deps.sh

# the demo project's first model, committed in stub_loop/stub_loop/demo_model/: the reference trainer on generated
# images of the demo's categories, checked on the demo image (a few minutes of CPU; see scripts/demo_model.py)
demo-model: $(STAMP)
	$(BIN)/python scripts/demo_model.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy shared/loop_shared testkit/loop_testkit stub_loop/stub_loop detector/loop_detector trainer/loop_trainer \
		reference_trainer/loop_reference_trainer converter/loop_converter annotator/loop_annotator
	$(BIN)/mypy bench chaos mutation scripts

run: $(STAMP)
	PATH=$(abspath $(BIN)):$$PATH bash scripts/run_local.sh

bench: $(STAMP)
	$(BIN)/python -m bench.run

chaos: $(STAMP)
	$(BIN)/python -m chaos.run

# mutmut over the modules of mutation/targets.toml, one at a time and one worker, each against its unit tests;
# MUTATE="quotas ..." picks targets (then nothing is written to bench/results/). See docs/mutation.md.
mutate: $(STAMP)
	$(BIN)/python -m mutation.run $(MUTATE)

# Docker: this machine's engine cannot pull, so by default the images build FROM a Debian base made here
# (make base-image) with dependencies from host-downloaded wheels (make wheels). Where pulling works:
#   make images BASE_IMAGE=python:3.11-slim-bookworm
BASE_IMAGE ?= loop-nodes/debian-python:bookworm
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
EXAMPLES := detector trainer converter

base-image:
	@if [ "$(BASE_IMAGE)" = "loop-nodes/debian-python:bookworm" ]; then bash docker/build-base-image.sh; fi

wheels: $(STAMP)
	bash docker/download_wheels.sh

# the trainer base (the example trainer builds FROM it); compose builds the reference trainer from the same file
images: base-image wheels
	docker build -q -t loop-nodes/trainer:latest --target trainer --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	  -f Dockerfiles/trainer.Dockerfile .
	BASE_IMAGE=$(BASE_IMAGE) $(COMPOSE) build
	for example in $(EXAMPLES); do \
	  docker build -q -t loop-nodes/example-$$example examples/$$example || exit 1; done
	docker build -q -t loop-nodes/detector-balancer:latest --build-arg BASE_IMAGE=$(BASE_IMAGE) \
	  -f Dockerfiles/detector-balancer.Dockerfile deploy/swarm
	docker images "loop-nodes/*" --format "{{.Repository}}:{{.Tag}}  {{.Size}}"

wheels-gpu: $(STAMP)
	bash docker/download_gpu_wheels.sh

image-gpu: base-image wheels wheels-gpu
	BASE_IMAGE=$(BASE_IMAGE) bash docker/build_gpu_image.sh

e2e-gpu: image-gpu
	$(BIN)/pytest -m docker tests/docker/test_gpu_image.py -s -p no:cacheprovider

up: images
	$(COMPOSE) up -d
	@echo "pages: stub Loop http://localhost:8000  detector :8004  trainer :8005  converter :8006  annotator :8007  (make down to stop)"

down:
	$(COMPOSE) down

e2e: images
	COMPOSE="$(COMPOSE)" $(BIN)/pytest -m docker tests/docker -s -p no:cacheprovider

# Docker Swarm (deploy/swarm/stack.yml); the images are local, so no registry is needed on a single node. The stack
# needs no IPVS (no routing mesh, no virtual IPs): the detectors answer through HAProxy (deploy/swarm/haproxy.cfg).
# LOOP_* settings come from the environment or .env (e.g. the real Loop's address and credentials).
STACK ?= loop
swarm-up: images
	@if [ "$$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then \
	  docker swarm init --advertise-addr 127.0.0.1; fi
	set -a; if [ -f .env ]; then . ./.env; fi; set +a; \
	  docker stack deploy --resolve-image never -c deploy/swarm/stack.yml $(STACK)
	@echo "stub Loop http://localhost:$${STUB_PORT:-8000}  detectors :$${DETECTOR_PORT:-8004} (HAProxy; its /stats and /metrics :$${BALANCER_STATS_PORT:-8404})  (make swarm-down to stop)"

swarm-down:
	docker stack rm $(STACK)

# the swarm stack on this machine, then removed (and the swarm left, when the test created it), even on failure
swarm-e2e: images
	$(BIN)/pytest -m docker tests/deploy/test_swarm_stack.py -s -p no:cacheprovider

lock: $(STAMP)
	@{ echo "# Exact versions the test suite runs with; make install, make wheels and the Dockerfiles all honour them."; \
	  echo "# Regenerate with: make lock"; $(BIN)/pip freeze --exclude-editable | sort; } > constraints.txt
	touch $(STAMP)

clean:
	rm -rf $(VENV) .run build

compat: $(STAMP)
	bash compat/run_check.sh
