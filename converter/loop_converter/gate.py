"""Which accuracy figures refuse a conversion: the converter's limits, per output layout (see `accuracy`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GATED = ("accuracy_drop", "mask_accuracy_drop", "top1_agreement", "probability_difference_mean")


@dataclass(frozen=True)
class Limits:
    """What a conversion may change and still be published (the converter's LOOP_* settings)."""

    max_accuracy_drop: float = 0.02
    max_mask_accuracy_drop: float = 0.02
    min_top1_agreement: float = 0.98
    max_probability_difference: float = 0.03


def refusal(figures: dict[str, Any], limits: Limits) -> str | None:
    """Why a conversion with these figures must not be published (one line), or None when it may be."""
    where = f"on {figures.get('images')} images"
    if "top1_agreement" in figures:
        agreement = float(figures["top1_agreement"])
        if agreement < limits.min_top1_agreement:
            return (f"the converted model lost too much: top-1 agreement {agreement:.3f} < LOOP_MIN_TOP1_AGREEMENT "
                    f"{limits.min_top1_agreement} with the source's top classes {where}")
        difference = float(figures.get("probability_difference_mean", 0.0))
        if difference > limits.max_probability_difference:
            return (f"the converted model lost too much: mean probability difference {difference:.3f} > "
                    f"LOOP_MAX_PROBABILITY_DIFFERENCE {limits.max_probability_difference} {where}")
        return None
    drop = float(figures.get("accuracy_drop", 0.0))
    if drop > limits.max_accuracy_drop:
        return (f"the converted model lost too much: accuracy drop {drop:.3f} > LOOP_MAX_ACCURACY_DROP "
                f"{limits.max_accuracy_drop} (mAP@0.5 {figures.get('map50_vs_source')} against the source's "
                f"detections {where})")
    if "mask_accuracy_drop" in figures:
        mask_drop = float(figures["mask_accuracy_drop"])
        if mask_drop > limits.max_mask_accuracy_drop:
            return (f"the converted model lost too much: mask accuracy drop {mask_drop:.3f} > "
                    f"LOOP_MAX_MASK_ACCURACY_DROP {limits.max_mask_accuracy_drop} (mask mAP@0.5 "
                    f"{figures.get('mask_map50_vs_source')} against the source's masks {where})")
    return None
