"""`make bench`: every benchmark in one run on this machine; prints the figures and writes bench/results/.

Sections: trainer (two rounds of the reference trainer on a hard generated project, image download throughput;
segmentation and classification projects to their goals),
detector (a small and a YOLOv8n-sized model, REST and Socket.IO at concurrency 1 and 4, against in-process and raw
session.run, the batch route), active learning (the cost of the decision per image), detector by model format
(onnx, onnx_int8, onnx_fp16), converter (sizes, speed, accuracy of each conversion), outbox (backlog delivery and
recovery), segmentation serving against box-only, conversions of segmentation and classification models, the
annotator (mask quality after a few clicks, latency through the stub), and each node's cold start and memory.
Figures only: nothing here asserts a timing. It takes about forty minutes on two cores and starts its own stub Loop
and nodes; it needs no LOOP_* settings.

Results: bench/results/latest.md is replaced by the full report, and one row (date, commit, machine, headline
figures) is appended to bench/results/history.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from loop_testkit.onnx_models import yolov8n_like_package
from loop_testkit.processes import free_port

from .common import ORG, node_env, rss_mb, stub_loop, table, wait_for
from .history import append_bench_row

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


DETECTOR_SETUP = (
    "Requests with `autoupload: disabled` (the outbox has its own section). In-process is the same ONNX logic called "
    "directly in the benchmark process; the server runs 3 inference threads with 1 ONNX Runtime thread each (the "
    "defaults). The load generator runs in the benchmark process on the same 2 cores, so it is kept minimal (as wrk "
    "is): REST is keep-alive HTTP/1.1 on a plain socket with the request prebuilt, Socket.IO is one websocket per "
    "client thread sending the binary `detect` event and waiting for its acknowledgement. Their CPU cost is "
    "included in the figures.")


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    memory = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                  if line.startswith("MemTotal"))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    # the results files are what the runs write, not code: a run's own output does not count as a change
    changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results",
                              ":!chaos/results"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    if commit and changed:  # figures of code that is not committed yet say so
        commit += " with uncommitted changes"
    return (f"{os.cpu_count()} cores ({cpu}), {int(memory) / 2**20:.0f} GiB, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}, commit {commit or 'unknown'}")


def package_of(model_dir: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as archive:
        for name in ("model.onnx", "weights.npz"):
            archive.write(model_dir / name, name)
        summary = json.loads((model_dir / "summary.json").read_text())
        archive.writestr("model.json", json.dumps({"resolution": summary["resolution"],
                                                   "categories": summary["categories"],
                                                   "output_layout": "ultralytics",
                                                   "conf_threshold": summary["conf_threshold"],
                                                   "iou_threshold": summary["iou_threshold"]}))
    return dest


def ready_with_peak_rss(node: Any, timeout: float = 120) -> list[float]:
    """Wait until `node` is ready, sampling its resident memory (MB) meanwhile."""
    samples = [rss_mb(node.proc.pid)]

    def ready() -> bool:
        samples.append(rss_mb(node.proc.pid))
        return httpx.get(f"{node.url}/ready").status_code == 200

    wait_for(ready, timeout, f"{node.command} ready")
    return samples


def nodes_section(work: Path, loop: httpx.Client, stub: Any, start_node: Any,
                  detector_memory: dict[str, dict[str, float]]) -> str:
    rows = []
    started = time.monotonic()
    probe = start_node("loop-stub", {"LOOP_NODE_PORT": str(free_port()), "LOOP_DATA_DIR": str(work / "stub2"),
                                     "LOOP_LOG_LEVEL": "WARNING"}, "/api/status")
    stub_cold, stub_idle = f"{time.monotonic() - started:.1f}", f"{rss_mb(probe.proc.pid):.0f}"
    probe.stop()
    for name, memory in detector_memory.items():
        rows.append([f"detector ({name})", f"{memory['cold']:.1f}", f"{memory['idle']:.0f}", f"{memory['load']:.0f}"])
    loop.post(f"/{ORG}/projects/generator", json={"project_name": "nodes", "complete": 40, "box_categories": 2})
    for command in ("loop-trainer", "loop-converter"):
        started = time.monotonic()
        node = start_node(command, node_env(stub, work / command, "nodes", LOOP_POLL_INTERVAL="1"), "/ready",
                          wait_ready=False)
        # the converter's first scan converts the model the trainer just made: its "under load" is that scan
        peak = ready_with_peak_rss(node)
        cold = time.monotonic() - started
        time.sleep(1)
        idle, busy = rss_mb(node.proc.pid), "—"
        if command == "loop-trainer":
            loop.post(f"/{ORG}/projects/nodes/trainings", json={"hyperparameters": {"epochs": 6, "eval_every": 2}})
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                peak.append(rss_mb(node.proc.pid))
                state = loop.get(f"/{ORG}/projects/nodes/trainings/1").json()["state"]
                if state in ("done", "failed"):
                    break
                time.sleep(0.5)
            busy = f"{max([*peak, idle]):.0f} (node + training process)"
        else:
            formats = sorted({f for m in loop.get(f"/{ORG}/projects/nodes/models").json()["models"]
                              for f in m["formats"]})
            busy = f"{max([*peak, idle]):.0f} (first scan, model now in {', '.join(formats)})"
        rows.append([command.removeprefix("loop-"), f"{cold:.1f}", f"{idle:.0f}", busy])
        node.stop()
    rows.insert(0, ["stub Loop", stub_cold, stub_idle, f"{rss_mb(stub.proc.pid):.0f} (after serving every benchmark)"])
    return "\n".join(["## Nodes: cold start and memory", "",
                      "Cold start: process start until its readiness route answers 200 (detector: model downloaded, "
                      "loaded and warmed up; trainer: connected to the Loop; converter: first scan done).", "",
                      table(["node", "cold start to ready (s)", "RSS idle (MB)", "RSS under load (MB)"], rows), ""])


def main() -> None:
    argparse.ArgumentParser(prog="python -m bench.run", description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    from loop_testkit.processes import Service

    # only now: the benchmarks import ONNX Runtime, which writes a cache file under $HOME even for --help
    from . import (
        active_learning_bench,
        annotator_bench,
        classification_bench,
        converter_bench,
        converter_categories_bench,
        detector_bench,
        formats_bench,
        outbox_bench,
        segmentation_bench,
        segmentation_serving_bench,
        trainer_bench,
    )

    work = Path(tempfile.mkdtemp(prefix="loop-bench-"))
    started_services: list[Service] = []

    def start_node(command: str, env: dict[str, str], ready: str = "/health", wait_ready: bool = True) -> Service:
        service = Service(command, env, work / f"{command}-{len(started_services)}.log", ready)
        started_services.append(service)
        return service.start(wait_ready=wait_ready)

    sections = []
    began = time.monotonic()
    try:
        with stub_loop(work) as (stub, loop):
            print("trainer ...", flush=True)
            trainer_report, trained, test_images = trainer_bench.run(work, loop, stub)
            sections.append(trainer_report)
            print(trainer_report, flush=True)
            kind_packages: dict[str, Path] = {}
            for name, bench in (("segmentation", segmentation_bench), ("classification", classification_bench)):
                print(f"{name} ...", flush=True)
                section, training = bench.run(work, loop, stub)
                sections.append(section)
                print(section, flush=True)
                # the converter-by-kind section below converts these trained models
                kind_packages[name] = trainer_bench.trained_package(training, work / f"{name}-package")
            small = package_of(trained, work / "small.zip")
            realistic, gflops = yolov8n_like_package(work / "yolov8n_like.zip")
            print("detector ...", flush=True)
            rows, notes, memory = [], [], {}
            for name, package, jpeg, counts in (
                    ("small (reference trainer, hard project)", small, detector_bench.scene_jpeg(416, 320), (300, 600)),
                    (f"realistic (YOLOv8n-sized, 640 px, {gflops:.1f} GFLOPs)", realistic,
                     detector_bench.scene_jpeg(640, 480), (30, 96))):
                r, n, m = detector_bench.bench_model(name, package, jpeg, counts, loop, stub, work, start_node)
                rows += r
                notes += n
                memory[name.split(" (")[0]] = m
            section = "\n".join(["## Detector", "",
                                 DETECTOR_SETUP, "",
                                 table(["model", "path", "concurrency", "req/s", "p50 ms", "p95 ms", "p99 ms"], rows),
                                 "", *notes, ""])
            sections.append(section)
            print(section, flush=True)
            small_p50 = next(float(r[4]) for r in rows if r[0].startswith("small")
                             and r[1].startswith("in-process (decode"))
            section = active_learning_bench.run(small_p50)
            sections.append(section)
            print(section, flush=True)
            print("formats ...", flush=True)
            calibration = sorted((work / "images").glob("*.jpg"))[:32]
            section = formats_bench.run(f"realistic model (YOLOv8n-sized, {gflops:.1f} GFLOPs)", realistic,
                                        detector_bench.scene_jpeg(640, 480), calibration, loop, stub, work,
                                        start_node, 96)
            sections.append(section)
            print(section, flush=True)
            print("converter ...", flush=True)
            section = converter_bench.run(work, {"small": (small, 200), "realistic": (realistic, 15)}, calibration,
                                          {"small": test_images})
            sections.append(section)
            print(section, flush=True)
            print("segmentation serving ...", flush=True)
            section, _ = segmentation_serving_bench.run(work, loop, stub, start_node)
            sections.append(section)
            print(section, flush=True)
            print("converter by model kind ...", flush=True)
            section = converter_categories_bench.section(work, kind_packages)
            sections.append(section)
            print(section, flush=True)
            print("annotator ...", flush=True)
            section, _ = annotator_bench.run(work, loop, stub)
            sections.append(section)
            print(section, flush=True)
            print("outbox ...", flush=True)
            section = outbox_bench.run(work, loop, stub)
            sections.append(section)
            print(section, flush=True)
            print("nodes ...", flush=True)
            wait_for(lambda: httpx.get(f"{stub.url}/api/status").status_code == 200, 30, "stub back")
            section = nodes_section(work, loop, stub, start_node, memory)
            sections.append(section)
            print(section, flush=True)
    finally:
        for service in started_services:
            service.stop()
    header = ["# Benchmark results", "", f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
              f"- machine: {machine()}", "- command: `make bench`",
              f"- duration: {time.monotonic() - began:.0f} s", ""]
    text = "\n".join(header + sections)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "latest.md").write_text(text)
    append_bench_row(RESULTS / "history.md", text)
    print(f"\nwritten to {RESULTS / 'latest.md'}, a row added to {RESULTS / 'history.md'}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
