"""Small inline SVG charts for the feedback and the class report: geometry here, markup in templates.

Drawn by hand rather than with matplotlib because the report is rewritten after every recorded
result: a matplotlib figure costs about 0.2 s of the coordinator's CPU, time the runners need.
"""
from __future__ import annotations

import math

WIDTH, HEIGHT = 460, 250
LEFT, RIGHT, TOP, BOTTOM = 48, 14, 14, 42


def _scale(value: float, lo: float, hi: float, a: float, b: float) -> float:
    return a + (value - lo) / (hi - lo) * (b - a) if hi > lo else a


def _points(pairs) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)


def _frame(xlabel: str, ylabel: str) -> dict:
    return {"w": WIDTH, "h": HEIGHT, "left": LEFT, "right": WIDTH - RIGHT, "top": TOP,
            "bottom": HEIGHT - BOTTOM, "xlabel": xlabel, "ylabel": ylabel}


def trajectory(rerun: list | None, submitted: list | None, band: tuple | None, floor: float | None) -> dict | None:
    """Accuracy per epoch: the re-run, the student's own run, the reference band and the floor."""
    n = max(len(rerun or []), len(submitted or []), len(band[0]) if band else 0)
    if not (rerun or submitted):
        return None
    chart = _frame("epoch (0 = before training)", "test accuracy (%)")

    def x(i):
        return _scale(i, 0, max(n - 1, 1), LEFT, WIDTH - RIGHT)

    def y(v):
        return _scale(min(max(float(v), 0.0), 100.0), 0, 100, HEIGHT - BOTTOM, TOP)

    chart["x_ticks"] = [(x(i), str(i)) for i in range(n)]
    chart["y_ticks"] = [(y(v), str(v)) for v in range(0, 101, 20)]
    if band:
        lo, hi = band
        chart["band"] = _points([(x(i), y(v)) for i, v in enumerate(lo)]
                                + [(x(i), y(v)) for i, v in reversed(list(enumerate(hi)))])
    chart["series"] = [
        {"label": label, "colour": colour, "dash": dash, "line": _points((x(i), y(v)) for i, v in enumerate(values)),
         "dots": [(x(i), y(v)) for i, v in enumerate(values)]}
        for label, values, colour, dash in (("re-run by the grader", rerun, "#08519c", ""),
                                            ("your submitted run", submitted, "#d94801", "6,4"))
        if values
    ]
    if floor is not None:
        chart["floor"] = {"y": y(floor), "label": f"final floor {float(floor):g}%"}
    return chart


def tick(value: float) -> str:
    """An axis label as people write numbers: 1,500 and 0.25, never 1.5e+03."""
    value = float(value)
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def histogram(values: list[float], xlabel: str, bins: int = 10, value_range: tuple | None = None) -> dict | None:
    """Counts of `values` in equal bins over `value_range` (default: their own range)."""
    if not values:
        return None
    lo, hi = value_range or (min(values), max(values))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(max(int((v - lo) / width), 0), bins - 1)] += 1
    top = max(counts)
    step = max(1, math.ceil(top / 4))
    chart = _frame(xlabel, "submissions")

    def x(v):
        return _scale(v, lo, hi, LEFT, WIDTH - RIGHT)

    def y(c):
        return _scale(c, 0, top, HEIGHT - BOTTOM, TOP + 4)

    chart["bars"] = [{"x": x(lo + i * width) + 1, "w": max(x(lo + (i + 1) * width) - x(lo + i * width) - 2, 1),
                      "y": y(c), "h": (HEIGHT - BOTTOM) - y(c), "count": c,
                      "range": f"{tick(lo + i * width)}–{tick(lo + (i + 1) * width)}"} for i, c in enumerate(counts)]
    every = max(1, math.ceil(bins / 6))
    chart["x_ticks"] = [(x(lo + i * width), tick(lo + i * width)) for i in range(0, bins + 1, every)]
    chart["y_ticks"] = [(y(c), tick(c)) for c in range(0, top + 1, step)]
    return chart
