"""A short schemathesis run (chaos/api_fuzz.py, the one `make chaos` runs at length) against the stub Loop and
every node, each a real process: every check (no 5xx, documented status codes, content types and headers, answers
that match their response schemas, invalid data refused, valid data accepted, stateful sequences) must pass, and
every process must still be up. Deterministic: a fixed seed and schemathesis's deterministic generation."""

from __future__ import annotations

from pathlib import Path

from chaos.api_fuzz import Budget, run


def test_schemathesis_finds_nothing_in_the_stub_loop_or_any_node(tmp_path: Path) -> None:
    report, outcomes = run(Budget(examples=8), tmp_path, seed=28)
    assert [o.service for o in outcomes] == ["stub Loop", "detector", "trainer", "converter", "annotator"]
    for outcome in outcomes:
        assert outcome.operations > 0 and outcome.test_cases > 0, f"{outcome.service} was not fuzzed:\n{report}"
    failed = [o for o in outcomes if o.findings]
    assert not failed, report + "\n\n" + "\n\n".join(f"== {o.service}\n{o.output}" for o in failed)
