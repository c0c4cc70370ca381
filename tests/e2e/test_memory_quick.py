"""The quick version of `make chaos`'s memory run (chaos/memory.py, the same cases with 9-megapixel instead of
36-megapixel images): every request within the limits is answered with a result or a 4xx, the detector stays up,
and its peak resident memory for each single request stays under the bound docs/guarantees.md promises."""

from __future__ import annotations

from pathlib import Path

from chaos import memory


def test_each_request_within_the_limits_costs_the_detector_less_than_the_bound(tmp_path: Path) -> None:
    finding = memory.run(tmp_path, quick=True)
    assert finding.ok, "\n".join(finding.problems + finding.lines)
    peaks = {name: figures["peak_mb"] for name, figures in finding.figures.items()}
    assert len(peaks) >= 8, peaks  # every case was sent and measured
    assert all(0 < peak < memory.GOAL_MB for peak in peaks.values()), peaks
    assert all(figures["status"] is not None and figures["status"] < 500 for figures in finding.figures.values())
