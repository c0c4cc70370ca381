"""The engine: batches are decoded in chunks bounded by decoded pixels, under one model for the whole request."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from loop_detector.active_learning import Rules, load_config
from loop_detector.engine import ActiveModel, Autoupload, DetectOptions, Engine, ImageInput
from loop_detector.errors import InputError
from loop_detector.logic import DetectorLogic
from loop_detector.metrics import DetectorMetrics
from loop_detector.outbox import Outbox
from loop_detector.quotas import QuotaBook
from loop_detector.relevance_filter import RelevanceFilter
from loop_detector.settings import DetectorSettings
from loop_detector.upload_policy import UploadPolicy
from loop_shared.loop_client import LoopClient
from loop_shared.schemas import ImageMetadata, ModelInformation
from loop_shared.settings import load_settings


class CountingLogic(DetectorLogic):
    """Records how many decoded pixels each call received."""

    calls: list[list[int]]

    def load(self) -> None:
        self.calls = []

    def evaluate(self, image: np.ndarray) -> ImageMetadata:
        return self.batch_evaluate([image])[0]

    def batch_evaluate(self, images: list[np.ndarray]) -> list[ImageMetadata]:
        self.calls.append([int(i.shape[0] * i.shape[1]) for i in images])
        return [ImageMetadata() for _ in images]


def jpeg(width: int, height: int) -> bytes:
    return cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))[1].tobytes()


def engine_with(tmp_path: Path, **overrides: object) -> tuple[Engine, CountingLogic]:
    settings = load_settings(DetectorSettings, organization="o", project="p", host="loop.test",
                             data_dir=tmp_path, **overrides)
    metrics = DetectorMetrics()
    outbox = Outbox(tmp_path / "outbox", settings, LoopClient(settings), metrics)
    config = load_config(None)
    policy = UploadPolicy(config, Rules(config, RelevanceFilter(settings)), QuotaBook(tmp_path / "q.json"), metrics)
    engine = Engine(settings, metrics, policy, outbox)
    info = ModelInformation(id="m", organization="o", project="p", version="1.0", categories=[])
    logic = CountingLogic(info, tmp_path, settings)
    logic.load()
    engine.swap(ActiveModel(logic, info, tmp_path))
    return engine, logic


def test_a_batch_never_holds_more_than_the_pixel_budget_decoded(tmp_path: Path) -> None:
    engine, logic = engine_with(tmp_path, max_image_pixels=10_000)
    inputs = [ImageInput(encoded=jpeg(60, 60)) for _ in range(5)] + [ImageInput(encoded=jpeg(100, 100))]
    results = engine.detect_sync(inputs, DetectOptions(autoupload=Autoupload.DISABLED))
    assert [len(c) for c in logic.calls] == [2, 2, 1, 1]
    assert all(sum(c) <= 10_000 for c in logic.calls)
    assert [r.image_size for r in results] == [{"width": 60, "height": 60}] * 5 + [{"width": 100, "height": 100}]
    engine.close()


def test_raw_arrays_are_chunked_as_well(tmp_path: Path) -> None:
    engine, logic = engine_with(tmp_path, max_image_pixels=5_000)
    inputs = [ImageInput(array=np.zeros((50, 50, 3), np.uint8)) for _ in range(4)]
    engine.detect_sync(inputs, DetectOptions(autoupload=Autoupload.DISABLED))
    assert logic.calls == [[2500, 2500], [2500, 2500]]
    engine.close()



def test_autoupload_is_filtered_when_absent_and_refused_when_empty_or_unknown() -> None:
    assert Autoupload.parse(None) is Autoupload.FILTERED and Autoupload.parse("all") is Autoupload.ALL
    for wrong in ("", "sometimes"):  # an empty `autoupload:` header is what schemathesis sent and we took as default
        with pytest.raises(InputError, match="autoupload must be"):
            Autoupload.parse(wrong)


def test_draw_is_a_boolean_as_its_schema_says() -> None:
    from loop_detector.routes.detect import wants_drawing
    assert wants_drawing(b"") is False and wants_drawing(b"draw=false") is False and wants_drawing(b"draw=true")
    for wrong in (b"draw=", b"draw=1", b"draw=yes", b"draw=TRUE"):  # schemathesis: 200 for strings not boolean
        with pytest.raises(InputError, match="draw must be true or false"):
            wants_drawing(wrong)
