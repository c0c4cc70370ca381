"""Serving benchmark: one segmentation network served with its masks against the same network with its box output
only. The goal of issue 29: segmentation at concurrency 4 reaches >= 85 % of the requests/s of the box-only outputs.

The network is the test kit's segmenter (`loop_testkit.onnx_segmenter`) at 640 px: 8400 candidates (YOLOv8's
count at 640 px), C = 2 classes, 2 mask prototypes at 160 x 160 computed from the picture; six objects on a
640 x 480 picture score high, the other candidates low. The box-only variant is the same ONNX graph with the
prototype output removed (ONNX Runtime then never computes the prototypes) and model.json naming the `ultralytics`
layout and box categories, so the only difference served is the mask path: prototypes, mask coefficients,
polygons and a longer answer. Both run as detector processes against one stub Loop, measured over REST and
Socket.IO at concurrency 4 in alternating rounds (the machine's noise falls on both alike); the in-process cost of
`evaluate` is measured for both too, and each detector process's own CPU time and context switches per
request (from /proc), which carry less of the load generator's and the machine's noise than requests/s.

Run alone: `python -m bench.segmentation_serving_bench` (starts its own stub Loop; writes
bench/results/segmentation_serving.md). `run(work, loop, stub, start_node)` gives the section to a caller.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import onnx

from loop_detector import images as image_io
from loop_detector.onnx_logic import OnnxDetectorLogic
from loop_detector.settings import DetectorSettings
from loop_shared.model_package import read_model_info
from loop_shared.settings import load_settings
from loop_testkit.onnx_segmenter import GREEN, RED, build_segmenter_onnx, candidate, write_package
from loop_testkit.processes import Service

from .common import ORG, ms, node_env, percentiles, stub_loop, table, wait_for
from .detector_bench import load, per_thread, rest_caller, sio_caller

SIZE, WIDTH, HEIGHT, CANDIDATES = 640, 640, 480, 8400
PAD_Y = (SIZE - HEIGHT) // 2  # the letterbox: scale 1, rows of padding above and below
# objects: (kind, x1, y1, x2, y2) in picture pixels; discs are red, rectangles green
OBJECTS = [("disc", 40, 40, 140, 140), ("disc", 300, 60, 380, 140), ("rect", 460, 40, 600, 200),
           ("rect", 60, 260, 200, 440), ("disc", 280, 280, 400, 400), ("rect", 470, 300, 560, 450)]
GOAL = 0.85
ROUNDS = 6
REQUESTS = 1200  # per outputs and transport, over all rounds (160 swung the ratio by 10 points)
ROOT = Path(__file__).resolve().parents[1]


def scene_jpeg() -> bytes:
    image = np.full((HEIGHT, WIDTH, 3), 40, np.uint8)
    for kind, x1, y1, x2, y2 in OBJECTS:
        if kind == "disc":
            cv2.circle(image, ((x1 + x2) // 2, (y1 + y2) // 2), (x2 - x1) // 2, (0, 0, 230), -1)  # BGR: red
        else:
            image[y1:y2, x1:x2] = (0, 230, 0)
    return bytes(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())


def candidates() -> list[list[float]]:
    rng = np.random.default_rng(0)
    columns = []
    for i, (kind, x1, y1, x2, y2) in enumerate(OBJECTS):  # a little loose, as a model's boxes are
        cx, cy, w, h = (x1 + x2) / 2, (y1 + y2) / 2 + PAD_Y, x2 - x1 + 6, y2 - y1 + 6
        scores = [0.9 - 0.02 * i, 0.0] if kind == "disc" else [0.0, 0.9 - 0.02 * i]
        columns.append(candidate(cx, cy, w, h, scores, RED if kind == "disc" else GREEN))
    for _ in range(CANDIDATES - len(OBJECTS)):  # the rest: low scores, as most of a real model's candidates
        cx, cy = rng.uniform(0, SIZE, 2)
        w, h = rng.uniform(10, 120, 2)
        columns.append(candidate(cx, cy, w, h, rng.uniform(0, 0.05, 2).tolist(), (0.0, 0.0)))
    return columns


def models() -> dict[str, tuple[bytes, dict[str, Any]]]:
    """ONNX bytes and model.json of the segmenter (`masks`) and of the same graph without its prototype output
    (`boxes`)."""
    segmenter = build_segmenter_onnx(SIZE, candidates())
    graph = onnx.load_from_string(segmenter)
    for output in [o for o in graph.graph.output if o.name == "output1"]:
        graph.graph.output.remove(output)
    names = ("disc", "rectangle")
    return {"masks": (segmenter, {"resolution": SIZE, "categories": [
                {"id": f"cat-{n}", "name": n, "type": "segmentation"} for n in names]}),
            "boxes": (graph.SerializeToString(), {"resolution": SIZE, "output_layout": "ultralytics", "categories": [
                {"id": f"cat-{n}", "name": n, "type": "box"} for n in names]})}


def in_process_ms(onnx_bytes: bytes, model_json: dict[str, Any], directory: Path, jpeg: bytes,
                  count: int) -> tuple[float, dict[str, int]]:
    """Median seconds of decode + evaluate in this process, and what one answer holds."""
    write_package(directory, onnx_bytes, {"id": "m", "organization": "o", "project": "p", "version": "1",
                                          **model_json})
    settings = load_settings(DetectorSettings, organization="o", project="p")
    logic = OnnxDetectorLogic(read_model_info(directory), directory, settings)
    logic.load()
    taken = []
    for _ in range(count):
        started = time.perf_counter()
        result = logic.evaluate(image_io.decode(jpeg, settings.max_image_bytes, settings.max_image_pixels))
        taken.append(time.perf_counter() - started)
    return percentiles(taken)["p50"], {"boxes": len(result.box_detections),
                                      "segmentations": len(result.segmentation_detections)}


def server_usage(pid: int) -> tuple[float, float, int]:
    """A detector process's user and system CPU seconds so far (all its threads, from /proc/PID/stat) and the
    context switches of its threads (voluntary and not, /proc/PID/task/*/status): what serving cost the server
    alone, apart from the load generator sharing the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    switches = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        try:
            switches += sum(int(line.split()[1]) for line in status.read_text().splitlines()
                            if "ctxt_switches:" in line)  # voluntary and nonvoluntary
        except (FileNotFoundError, ProcessLookupError):  # a thread that ended meanwhile
            continue
    return int(fields[11]) / tick, int(fields[12]) / tick, switches


def deploy_and_start(name: str, package: Path, loop: httpx.Client, stub: Any, work: Path,
                     start_node: Callable[..., Service], **env: str) -> Service:
    project = f"serve-{name}"
    loop.post(f"/{ORG}/projects/generator", json={"project_name": project, "complete": 0, "box_categories": 0})
    model = loop.post(f"/{ORG}/projects/{project}/onnx", files={"files": (package.name, package.read_bytes())})
    model.raise_for_status()
    loop.put(f"/{ORG}/projects/{project}/deployment/target", json={"version": model.json()["version"]})
    detector = start_node("loop-detector", node_env(stub, work / f"detector-{name}", project,
                                                    LOOP_POLL_INTERVAL="0.5", **env))
    wait_for(lambda: httpx.get(f"{detector.url}/ready").status_code == 200, 120, f"{name} detector ready")
    return detector


def run(work: Path, loop: httpx.Client, stub: Any, start_node: Callable[..., Service],
        requests: int = REQUESTS, inference_workers: int | None = None) -> tuple[str, float]:
    """The report section and the headline: REST requests/s with masks over box-only, at concurrency 4.
    `inference_workers`: the detectors' LOOP_INFERENCE_WORKERS (their default when None)."""
    jpeg = scene_jpeg()
    built = models()
    inproc = {name: in_process_ms(*model, work / f"inproc-{name}", jpeg, 40) for name, model in built.items()}
    env = {} if inference_workers is None else {"LOOP_INFERENCE_WORKERS": str(inference_workers)}
    detectors = {name: deploy_and_start(name, write_package(work / f"{name}.zip", *model), loop, stub, work,
                                        start_node, **env) for name, model in built.items()}
    answer = httpx.post(f"{detectors['masks'].url}/detect", files={"file": ("s.jpg", jpeg)},
                        headers={"autoupload": "disabled"}).json()
    assert len(answer["segmentation_detections"]) == len(OBJECTS), answer
    callers = {(name, transport): per_thread(make(d.url, jpeg)) for name, d in detectors.items()
               for transport, make in (("REST", rest_caller), ("Socket.IO", sio_caller))}
    for call in callers.values():
        load(call, 4, 8)  # warm: connections, sessions, caches
    latencies: dict[tuple[str, str], list[float]] = {key: [] for key in callers}
    seconds = dict.fromkeys(callers, 0.0)
    usage = {key: [0.0, 0.0, 0.0] for key in callers}  # server user s, system s, context switches
    for round_ in range(ROUNDS):  # alternate, and swap the order every round
        for key in (list(callers) if round_ % 2 == 0 else list(reversed(callers))):
            process = detectors[key[0]].proc
            assert process is not None
            pid = process.pid
            before = server_usage(pid)
            taken, rate = load(callers[key], 4, max(4, requests // ROUNDS))
            after = server_usage(pid)
            usage[key] = [total + b - a for total, a, b in zip(usage[key], before, after, strict=True)]
            latencies[key] += taken
            seconds[key] += len(taken) / rate
    rps = {key: len(latencies[key]) / seconds[key] for key in callers}
    for detector in detectors.values():
        detector.stop()
    rows = []
    for transport in ("REST", "Socket.IO"):
        for name in ("boxes", "masks"):
            stats = percentiles(latencies[(name, transport)])
            user, system, switches = (v / len(latencies[(name, transport)]) for v in usage[(name, transport)])
            rows.append([name, transport, 4, f"{rps[(name, transport)]:.1f}", ms(stats["p50"]), ms(stats["p95"]),
                         ms(user), ms(system), f"{switches:.1f}"])
    ratio = {t: rps[("masks", t)] / rps[("boxes", t)] for t in ("REST", "Socket.IO")}
    # the server's CPU per request, box-only over masks: what the requests/s ratio would be if the server alone
    # were measured, with less of the load generator's and the machine's noise in it
    cpu = {key: (usage[key][0] + usage[key][1]) / len(latencies[key]) for key in callers}
    cpu_ratio = {t: cpu[("boxes", t)] / cpu[("masks", t)] for t in ("REST", "Socket.IO")}
    verdict = "met" if min(ratio.values()) >= GOAL else "NOT met"
    section = "\n".join([
        "## Serving segmentation: masks against the same network's box-only output", "",
        f"The test kit's segmenter at {SIZE} px, {CANDIDATES} candidates, {len(OBJECTS)} objects on a "
        f"{WIDTH} x {HEIGHT} JPEG ({len(jpeg) / 1024:.0f} KiB); masks: {len(OBJECTS)} polygons per answer; box-only: "
        "the same graph without the prototype output. Concurrency 4, "
        f"{'default' if inference_workers is None else inference_workers} inference workers, "
        f"{ROUNDS} alternating rounds, {sum(len(v) for v in latencies.values())} requests in all.", "",
        table(["outputs", "transport", "concurrency", "requests/s", "p50 ms", "p95 ms", "server user ms",
               "server sys ms", "server switches"], rows), "",
        "Server figures are per request, from the detector process alone (all its threads; the load generator shares "
        "the machine): CPU time and context switches.", "",
        f"- in-process decode + evaluate, median: masks {inproc['masks'][0] * 1000:.2f} ms "
        f"({inproc['masks'][1]['segmentations']} polygons), box-only {inproc['boxes'][0] * 1000:.2f} ms "
        f"({inproc['boxes'][1]['boxes']} boxes)",
        f"- **masks / box-only requests/s at concurrency 4: REST {100 * ratio['REST']:.0f} %, Socket.IO "
        f"{100 * ratio['Socket.IO']:.0f} %** (goal >= {100 * GOAL:.0f} %: {verdict})",
        f"- server CPU per request, box-only / masks: REST {100 * cpu_ratio['REST']:.0f} %, Socket.IO "
        f"{100 * cpu_ratio['Socket.IO']:.0f} % (box-only {ms(cpu[('boxes', 'REST')])} ms, masks "
        f"{ms(cpu[('masks', 'REST')])} ms over REST)", ""])
    return section, ratio["REST"]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.segmentation_serving_bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=REQUESTS,
                        help=f"requests per outputs and transport, over all rounds (default {REQUESTS})")
    parser.add_argument("--inference-workers", type=int, default=None,
                        help="the detectors' LOOP_INFERENCE_WORKERS (default: theirs, CPU cores + 1)")
    args = parser.parse_args()
    from .run import machine

    work = Path(tempfile.mkdtemp(prefix="loop-serve-bench-"))
    started: list[Service] = []

    def start_node(command: str, env: dict[str, str], ready: str = "/health", wait_ready: bool = True) -> Service:
        service = Service(command, env, work / f"{command}-{len(started)}.log", ready)
        started.append(service)
        return service.start(wait_ready=wait_ready)

    try:
        with stub_loop(work) as (stub, loop):
            section, _ = run(work, loop, stub, start_node, args.requests, args.inference_workers)
    finally:
        for service in started:
            service.stop()
        shutil.rmtree(work, ignore_errors=True)
    workers = "" if args.inference_workers is None else f" --inference-workers {args.inference_workers}"
    report = "\n".join([f"# Segmentation serving bench, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC", "",
                        f"- machine: {machine()}",
                        "- command: `.venv/bin/python -m bench.segmentation_serving_bench "
                        f"--requests {args.requests}{workers}`",
                        "", section])
    (ROOT / "bench" / "results" / "segmentation_serving.md").write_text(report)
    print(report, flush=True)


if __name__ == "__main__":
    main()
