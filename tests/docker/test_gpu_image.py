"""`make e2e-gpu`: the GPU detector image on a machine without a GPU (as here): it starts, finds no usable CUDA
provider, says so once, and serves the stub Loop's demo model on the CPU. Run where `make image-gpu` built it."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

pytestmark = pytest.mark.docker


def docker(*args: str, check: bool = True) -> str:
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout + result.stderr


@pytest.fixture
def containers() -> Iterator[tuple[str, str]]:
    if "loop-nodes/detector-gpu" not in docker("images", "--format", "{{.Repository}}"):
        pytest.skip("no loop-nodes/detector-gpu image: run make image-gpu (or make e2e-gpu)")
    suffix = uuid.uuid4().hex[:6]
    network, stub, detector = f"gpu-{suffix}", f"gpu-loop-{suffix}", f"gpu-detector-{suffix}"
    docker("network", "create", network)
    docker("run", "-d", "--name", stub, "--network", network, "-e", "LOOP_STUB_DEMO=true",
           "-e", "LOOP_USERNAME=admin", "-e", "LOOP_PASSWORD=admin", "loop-nodes/stub-loop:latest")
    docker("run", "-d", "--name", detector, "--network", network, "-p", "127.0.0.1::8004",
           "-e", f"LOOP_HOST={stub}:8000", "-e", "LOOP_USERNAME=admin", "-e", "LOOP_PASSWORD=admin",
           "-e", "LOOP_ORGANIZATION=zauberzeug", "-e", "LOOP_PROJECT=demo", "-e", "LOOP_POLL_INTERVAL=1",
           "-e", "LOOP_ORT_PROVIDERS=CUDAExecutionProvider,CPUExecutionProvider", "loop-nodes/detector-gpu:latest")
    port = docker("port", detector, "8004").split(":")[-1].strip()
    try:
        yield f"http://127.0.0.1:{port}", detector
    finally:
        docker("rm", "-f", detector, stub, check=False)
        docker("network", "rm", network, check=False)


def test_the_gpu_image_falls_back_to_the_cpu_with_one_warning(containers: tuple[str, str]) -> None:
    url, detector = containers
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=5).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        time.sleep(1)
    else:
        raise AssertionError("the GPU detector never got ready:\n" + docker("logs", detector, check=False)[-4000:])
    about = httpx.get(f"{url}/about").json()
    logs = docker("logs", detector)
    assert about["execution_provider"] == "CPUExecutionProvider", about
    warnings = [line for line in logs.splitlines() if "CUDAExecutionProvider" in line and "WARNING" in line]
    assert len(warnings) == 1, logs[-3000:]
    version = docker("exec", detector, "python3", "-c", "import onnxruntime as o; print(o.__version__, o.get_device())")
    assert version.split() == ["1.31.1", "GPU"], version
