"""kill -9, again and again: the detector while it accepts images with the Loop away and while its outbox
delivers, and the trainer at random moments of a whole training. Everything is counted at the stub's wire
counts: accepted images that never arrived (lost), images that arrived more than once (and whether each such
duplicate was one the detector's journal had named as interrupted), and the trainer's uploads.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx

from bench.common import stub_loop, table
from loop_testkit.received_counts import detection_arrivals, image_arrivals, model_format_arrivals

from .memory import large_jpeg
from .proxy import Proxy
from .report import Finding
from .stack import ORG, deploy_grid_model, node_env, nodes

PROJECT = "kill"




def metric(url: str, name: str) -> float:
    for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def waiting(url: str) -> float:
    """Images in the detector's outbox, both queues."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in httpx.get(f"{url}/metrics", timeout=10).text.splitlines()
               if line.startswith("loop_detector_outbox_items{"))


def feed(url_of: list[str], stop: threading.Event, accepted: list[int]) -> None:
    """Post images to whatever detector is up, as fast as it answers; count the 200s."""
    image = large_jpeg(320, 240, seed=3)
    with httpx.Client(timeout=10) as client:
        while not stop.is_set():
            try:
                if client.post(f"{url_of[0]}/upload", files={"files": ("a.jpg", image)}).status_code == 200:
                    accepted.append(1)
            except httpx.HTTPError:
                time.sleep(0.05)  # the detector is being killed or restarted


def detector_run(work: Path, images: int, kills: int, finding: Finding) -> None:
    rng = random.Random(7)
    with stub_loop(work) as (stub, loop), nodes(work) as started, Proxy("127.0.0.1", stub.port) as proxy:
        deploy_grid_model(loop, work, PROJECT)
        env = {**node_env(stub, work / "detector", PROJECT), "LOOP_HOST": f"127.0.0.1:{proxy.port}",
               "LOOP_OUTBOX_BACKOFF_CAP": "2", "LOOP_LOG_LEVEL": "INFO"}
        detector = started.start("loop-detector", env, "/ready")
        url_of, stop = [detector.url], threading.Event()
        accepted: list[int] = []
        proxy.mode = "refuse"  # phase 1: the Loop is away, images pile up in the outbox
        feeder = threading.Thread(target=feed, args=(url_of, stop, accepted))
        feeder.start()
        accept_kills = 0
        while len(accepted) < images:
            time.sleep(rng.uniform(0.3, 1.5))
            detector.kill()
            accept_kills += 1
            detector.start(wait_ready=True, timeout=60)
        stop.set()
        feeder.join()
        proxy.mode = "forward"  # phase 2: the outbox delivers; kill it while it does
        interrupted, upload_kills = 0.0, 0
        deadline = time.monotonic() + 600
        # until the outbox is empty too: an image stored just before a kill, its 200 never sent, arrives as well
        while (len(image_arrivals(stub.url, ORG, PROJECT)) < len(accepted) or waiting(detector.url)) \
                and time.monotonic() < deadline:
            if upload_kills < kills:
                time.sleep(rng.uniform(0.1, 1.0))
                detector.kill()
                upload_kills += 1
                detector.start(wait_ready=True, timeout=60)
                interrupted += metric(detector.url, "loop_detector_outbox_interrupted_total")
            else:
                time.sleep(0.5)
        counts = image_arrivals(stub.url, ORG, PROJECT)
        lost = len(accepted) - len(counts)
        duplicates = sum(c - 1 for c in counts.values())
        finding.check(lost <= 0, f"{lost} accepted images never reached the Loop")
        finding.check(duplicates <= interrupted, f"{duplicates} duplicates but only {interrupted:.0f} images were in "
                                                 "flight at a crash")
        finding.figures["detector"] = {"accepted": len(accepted), "arrived": len(counts), "duplicates": duplicates,
                                       "interrupted": interrupted, "kills_while_accepting": accept_kills,
                                       "kills_while_uploading": upload_kills}
        finding.lines += [table(["detector", "value"], [
            ["kill -9 while accepting (Loop away)", accept_kills], ["kill -9 while delivering", upload_kills],
            ["images accepted (200)", len(accepted)], ["distinct images at the Loop", len(counts)],
            ["lost", max(lost, 0)], ["received twice or more (extra receipts)", duplicates],
            ["in flight at a crash (journal)", f"{interrupted:.0f}"],
            ["extra receipts per kill while delivering", f"{duplicates / max(1, upload_kills):.2f}"]]), ""]


def trainer_run(work: Path, kills: int, finding: Finding) -> None:
    rng = random.Random(11)
    project = "killtrain"
    with stub_loop(work / "t") as (stub, loop), nodes(work) as started:
        loop.post(f"/{ORG}/projects/generator", json={"project_name": project, "complete": 40, "inbox": 30,
                                                      "box_categories": 2, "image_width": 160, "image_height": 120})
        env = node_env(stub, work / "trainer", project, LOOP_RETRY_BASE="0.5", LOOP_LOG_LEVEL="INFO",
                       LOOP_DETECTION_BATCH_SIZE="10")
        trainer = started.start("loop-trainer", env, "/ready")
        loop.post(f"/{ORG}/projects/{project}/trainings", json={"hyperparameters": {"epochs": 4, "resolution": 128}})
        states: list[str] = []
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            state = loop.get(f"/{ORG}/projects/{project}/trainings/1").json()["state"]
            if state in ("done", "failed"):
                break
            if len(states) < kills:
                time.sleep(rng.uniform(1.0, 8.0))
                status = httpx.get(f"{trainer.url}/status", timeout=10).json()
                trainer.kill()
                states.append(status["state"])
                trainer.start(wait_ready=True, timeout=60)
            else:
                time.sleep(1)
        training = loop.get(f"/{ORG}/projects/{project}/trainings/1").json()
        models = loop.get(f"/{ORG}/projects/{project}/models").json()["models"]
        arrivals = model_format_arrivals(stub.url, ORG, project)
        uploads = {f"{model_id[:8]}…/{fmt}": n for (model_id, fmt), n in arrivals.items()}
        detections = detection_arrivals(stub.url, ORG, project)
        repeated = {k: v for k, v in detections.items() if v > 1}
        finding.check(training["state"] == "done", f"the training ended {training['state']}")
        # counted at the wire, not in the store (which keeps a format once and answers a repeat 409): every upload
        # the trainer sent was of the training's one model, and only the request under way at a kill may repeat.
        # The state is read just before each kill and may move on before it, so the step before the upload counts too.
        sent_models, model_id = {sent for sent, _ in arrivals}, training.get("model_id")
        finding.check(bool(arrivals) and sent_models == {model_id},
                      f"model uploads of {sorted(sent_models)} for one training (its model: {model_id})")
        upload_kills = sum(state in ("confusion_matrix_syncing", "train_model_uploading") for state in states)
        extra = sum(n - 1 for n in arrivals.values())
        finding.check(extra <= upload_kills, f"{extra} model uploads sent again, but only {upload_kills} kills came "
                                             "while the trainer uploaded")
        finding.figures["trainer"] = {"kills": states, "model_uploads": uploads, "detections_repeated": len(repeated)}
        finding.lines += [table(["trainer", "value"], [
            ["kill -9 in states", ", ".join(states)], ["training ended", training["state"]],
            ["models created", len(models)], ["model upload requests (training/format: count)", uploads],
            ["images whose detections arrived more than once", len(repeated)]]), ""]


def run(work: Path, images: int = 1000, kills: int = 10, trainer_kills: int = 8) -> Finding:
    finding = Finding("kill -9", "no accepted image lost; every image the Loop receives twice was in the request a "
                      "crash interrupted (at most that request's images per crash); a training killed at random "
                      "moments completes once with one model")
    for part in ("detector-run", "trainer-run/t"):
        (work / part).mkdir(parents=True, exist_ok=True)  # where the stub Loops write their logs
    detector_run(work / "detector-run", images, kills, finding)
    trainer_run(work / "trainer-run", trainer_kills, finding)
    return finding
