"""The SVG the tool answers: elements in image pixels for the Loop to draw over the image (no `<svg>` wrapper)."""

from __future__ import annotations

import re

from .history import Box, ToolHistory, Xy

DEFAULT_COLOUR = "#3ba4ff"
FOREGROUND, BACKGROUND = "#21c45d", "#ef4444"
_COLOUR = re.compile(r"^#[0-9A-Fa-f]{3,8}$")


def safe_colour(colour: str | None) -> str:
    """The category's colour if it is a plain hex colour (it goes into markup), else the default."""
    return colour if colour and _COLOUR.match(colour) else DEFAULT_COLOUR


def polygon_svg(points: list[Xy], colour: str) -> str:
    if len(points) < 3:
        return ""
    joined = " ".join(f"{x},{y}" for x, y in points)
    return (f'<polygon points="{joined}" fill="{colour}" fill-opacity="0.35" stroke="{colour}" '
            'stroke-width="2"/>')


def rect_svg(box: Box, colour: str, dashed: bool = False) -> str:
    x0, y0, x1, y1 = box
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return (f'<rect x="{x0}" y="{y0}" width="{x1 - x0 + 1}" height="{y1 - y0 + 1}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash}/>')


def marks_svg(history: ToolHistory) -> str:
    dots = [f'<circle cx="{x}" cy="{y}" r="5" fill="{FOREGROUND}" stroke="white"/>' for x, y in history.foreground]
    dots += [f'<circle cx="{x}" cy="{y}" r="5" fill="{BACKGROUND}" stroke="white"/>' for x, y in history.background]
    return "".join(dots)


def history_svg(history: ToolHistory, colour: str, dragging_to: Xy | None = None) -> str:
    """The outline, the box (dashed), the clicks, and the box being dragged when `dragging_to` is given."""
    parts = [polygon_svg(history.polygon, colour)]
    if history.box is not None:
        parts.append(rect_svg(history.box, colour, dashed=True))
    if dragging_to is not None and history.press is not None:
        (x0, y0), (x1, y1) = history.press, dragging_to
        parts.append(rect_svg((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), colour))
    parts.append(marks_svg(history))
    return "".join(parts)
