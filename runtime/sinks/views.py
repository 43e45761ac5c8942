"""Pictures of a result for the sinks, in BGR (OpenCV's order), drawn once per frame and shared.

Views: `overlay` (classes blended over the frame), `mask` (class colours), `side` (overlay | mask),
`input` (the camera frame). uint8 arithmetic in OpenCV throughout: on a 2-core board a float32 blend of
a 480×640 frame costs more than the rest of the output stage.
"""

from __future__ import annotations

import numpy as np

from amf_edge.labels import LabelSet
from amf_edge.lazy import require_module
from amf_edge.runtime.sinks.base import Result, SinkContext

VIEWS = ("overlay", "mask", "side", "input")
ALPHA = 0.5  # the exported graph's overlay blend, so both overlays look the same


def render(result: Result, view: str, context: SinkContext) -> np.ndarray:
    """The view as BGR uint8 H×W×3 (side: H×2W×3); cached on the result, so treat it as read-only."""
    cached = result.views.get(view)
    if cached is not None:
        return cached
    cv2 = require_module("cv2", "drawing the output")
    if view == "input":
        image = cv2.cvtColor(result.frame.sample.rgb, cv2.COLOR_RGB2BGR)
    elif view == "mask":
        image = context.lut_bgr[result.labels]
    elif view == "overlay":
        if "overlay" in result.outputs:  # drawn in the graph (on the GPU for TensorRT), in the model's channel order
            graph = result.outputs["overlay"]
            image = graph if context.channel_order == "BGR" else cv2.cvtColor(graph, cv2.COLOR_RGB2BGR)
        else:
            image = cv2.addWeighted(render(result, "input", context), 1 - ALPHA,
                                    render(result, "mask", context), ALPHA, 0)
    elif view == "side":
        image = cv2.hconcat([render(result, "overlay", context), render(result, "mask", context)])
    else:
        raise ValueError(f"unknown view {view!r}")  # URIs are checked against VIEWS when parsed
    if view == "overlay" and result.notes:  # e.g. "no depth: RGB head only", where anyone watching sees it
        image = image.copy()  # the graph's output is not ours to draw on
        draw_text(image, list(result.notes), bottom=True)
    result.views[view] = image
    return image


def view_size(view: str, height: int, width: int) -> tuple[int, int]:
    """(height, width) of a view of an H×W frame."""
    return (height, 2 * width) if view == "side" else (height, width)


def legend_panel(labels: LabelSet, height: int, *, row: int = 18, min_row: int = 11) -> np.ndarray:
    """A BGR panel of `height` rows listing every class with its colour, in as many columns as it takes."""
    cv2 = require_module("cv2", "drawing the legend")
    n = labels.num_classes
    row = max(min_row, min(row, height // n)) if height >= n * min_row else min_row
    per_column = max(1, height // row)
    columns = -(-n // per_column)
    scale = row / 30
    text_width = max(cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for name in labels.names)
    column_width = row + 6 + text_width + 8
    panel = np.full((height, columns * column_width, 3), 32, np.uint8)
    for i, (name, rgb) in enumerate(zip(labels.names, labels.palette)):
        x, y = (i // per_column) * column_width + 4, (i % per_column) * row + 2
        cv2.rectangle(panel, (x, y), (x + row - 5, y + row - 5), tuple(int(c) for c in rgb[::-1]), -1)
        cv2.putText(panel, name, (x + row + 2, y + row - 6), cv2.FONT_HERSHEY_SIMPLEX, scale, (235, 235, 235), 1,
                    cv2.LINE_AA)
    return panel


OUTLINE = np.ones((3, 3), np.uint8)  # the dark outline reaches one pixel beyond the light text


def draw_text(image: np.ndarray, lines: list[str], *, bottom: bool = False) -> None:
    """Status lines in the top-left (or `bottom`-left) corner, drawn in place: light text outlined in black, readable
    on any background.

    The text is drawn once, as a coverage mask, and the outline is that mask grown by a pixel; not the same text
    again with a larger thickness: OpenCV 5 gives thicker text wider advances, and such an outline drifts away
    from the fill along the line.
    """
    cv2 = require_module("cv2", "drawing text")
    font, scale = cv2.FONT_HERSHEY_SIMPLEX, max(0.35, min(0.6, image.shape[0] / 800))
    step = int(26 * scale) + 4
    first = image.shape[0] - step * len(lines) - 8 if bottom else 0  # the first line's top
    for i, line in enumerate(lines):
        x, y = 6, first + step * (i + 1)
        (_, height), baseline = cv2.getTextSize(line, font, scale, 1)
        top, bottom = max(0, y - height - 4), min(image.shape[0], y + baseline + 4)
        if top >= bottom:
            continue
        band = image[top:bottom]  # the line's rows
        fill = np.zeros(band.shape[:2], np.uint8)
        cv2.putText(fill, line, (x, y - top), font, scale, 255, 1, cv2.LINE_AA)
        outline = cv2.dilate(fill, OUTLINE)
        outline = cv2.convertScaleAbs(outline, alpha=4)  # opaque where the text covers a quarter pixel nearby
        keep = cv2.multiply(cv2.bitwise_not(outline), cv2.bitwise_not(fill), scale=1 / 255)  # of the background
        band[...] = cv2.add(cv2.multiply(band, cv2.cvtColor(keep, cv2.COLOR_GRAY2BGR), scale=1 / 255),
                            cv2.cvtColor(fill, cv2.COLOR_GRAY2BGR))  # + white where the text is
