"""A Loop outage, twice: first the Loop's address refuses connections, then it accepts and resets them (a load
balancer or port-forwarder with no backend). Meanwhile images arrive at the detector every 50 ms.

Measured at the wire: connection attempts per node during the outage (SYN packets to each node's own proxy,
counted by iptables, so refused attempts count too), how soon delivery resumes once the Loop is back, and every
image's receipts at the stub (none lost, none twice).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from bench.common import stub_loop, table
from loop_testkit.received_counts import image_arrivals

from .proxy import Proxy
from .report import Finding
from .stack import ORG, deploy_grid_model, node_env, nodes
from .wire import SynCounter

PROJECT = "outage"


def feed(url: str, seconds: float, every: float, accepted: list[int], failed: list[str]) -> None:
    """POST one image to /upload every `every` seconds for `seconds`."""
    from .memory import large_jpeg

    image = large_jpeg(320, 240)
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < deadline:
            response = client.post(f"{url}/upload", files={"files": ("a.jpg", image)})
            if response.status_code == 200:
                accepted.append(1)
            else:
                failed.append(f"{response.status_code} {response.text[:80]}")
            time.sleep(every)


def run(work: Path, seconds: float = 60.0, backoff_cap: float = 60.0, quick: bool = False) -> Finding:
    finding = Finding("Loop outage: refused, then reset",
                      f"at most 1 connection attempt per second per node on average during a {seconds:.0f} s "
                      f"outage while images arrive every 50 ms; delivery resumes within the backoff cap "
                      f"({backoff_cap:.0f} s) after the Loop returns; every accepted image arrives, none twice")
    rows = []
    with stub_loop(work) as (stub, loop), nodes(work) as started, \
            Proxy("127.0.0.1", stub.port) as to_detector, Proxy("127.0.0.1", stub.port) as to_trainer, \
            Proxy("127.0.0.1", stub.port) as to_converter:
        deploy_grid_model(loop, work, PROJECT, images=4)
        common = {"LOOP_LOG_LEVEL": "INFO"}
        detector = started.start("loop-detector", {**node_env(stub, work / "detector", PROJECT, **common),
                                                   "LOOP_HOST": f"127.0.0.1:{to_detector.port}",
                                                   "LOOP_OUTBOX_BACKOFF_CAP": str(backoff_cap)}, "/ready")
        started.start("loop-trainer", {**node_env(stub, work / "trainer", PROJECT, **common),
                                       "LOOP_HOST": f"127.0.0.1:{to_trainer.port}"}, "/ready")
        started.start("loop-converter", {**node_env(stub, work / "converter", PROJECT, **common),
                                         "LOOP_HOST": f"127.0.0.1:{to_converter.port}"}, "/ready")
        proxies = {"detector": to_detector, "trainer": to_trainer, "converter": to_converter}
        accepted_total = 0
        for mode in ("refuse", "reset"):
            accepted: list[int] = []
            failed: list[str] = []
            with SynCounter(to_detector.port) as d, SynCounter(to_trainer.port) as t, \
                    SynCounter(to_converter.port) as c:
                for proxy in proxies.values():
                    proxy.mode = mode
                began = time.monotonic()
                feeder = threading.Thread(target=feed, args=(detector.url, seconds, 0.05, accepted, failed))
                feeder.start()
                feeder.join()
                outage = time.monotonic() - began
                attempts = {"detector": d.count(), "trainer": t.count(), "converter": c.count()}
            if mode == "reset":
                attempts_seen = {name: p.accepted.get("reset", 0) for name, p in proxies.items()}
                attempts = {k: v if v is not None else attempts_seen[k] for k, v in attempts.items()}
            before = sum(image_arrivals(stub.url, ORG, PROJECT).values())
            for proxy in proxies.values():
                proxy.mode = "forward"
            back = time.monotonic()
            accepted_total += len(accepted)
            first = None
            deadline = back + backoff_cap + 60
            while time.monotonic() < deadline:
                count = sum(image_arrivals(stub.url, ORG, PROJECT).values())
                if first is None and count > before:
                    first = time.monotonic() - back
                if len(image_arrivals(stub.url, ORG, PROJECT)) >= accepted_total:
                    break
                time.sleep(0.2)
            drained = time.monotonic() - back
            for name, count in attempts.items():
                rate = None if count is None else count / outage
                rows.append([mode, name, count if count is not None else "not measured",
                             f"{rate:.2f}" if rate is not None else "—"])
                finding.check_timing(rate is None or rate <= 1.0, f"{mode}: {name} made {rate} attempts/s")
                finding.check(count is not None or name != "detector", f"{mode}: attempts not measurable")
            finding.check(not failed, f"{mode}: {len(failed)} uploads refused, e.g. {failed[:2]}")
            finding.check(first is not None, f"{mode}: delivery did not resume within {backoff_cap + 60:.0f} s")
            finding.check_timing(first is None or first <= backoff_cap + 5, f"{mode}: delivery resumed after {first} s")
            finding.lines.append(f"- {mode}: outage {outage:.0f} s, {len(accepted)} images accepted meanwhile; "
                                 f"delivery resumed {first if first is None else round(first, 1)} s after the Loop "
                                 f"came back, all delivered after {drained:.1f} s")
            finding.figures[mode] = {"attempts": attempts, "outage_s": round(outage, 1),
                                     "resumed_after_s": first and round(first, 1), "drained_s": round(drained, 1)}
        counts = image_arrivals(stub.url, ORG, PROJECT)
        twice = {k: v for k, v in counts.items() if v > 1}
        finding.check(len(counts) == accepted_total, f"{accepted_total} accepted, {len(counts)} arrived")
        finding.check(not twice, f"{len(twice)} images arrived more than once")
        finding.lines += ["", table(["outage", "node", "connection attempts", "attempts per second"], rows), "",
                          f"Images accepted during both outages: {accepted_total}; distinct images at the stub: "
                          f"{len(counts)}; received more than once: {len(twice)}."]
        finding.figures["accepted"], finding.figures["arrived"] = accepted_total, len(counts)
    return finding
