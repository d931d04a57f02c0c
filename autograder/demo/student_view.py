"""What a student sees of a run, for comparing two runs of one notebook (the warm-start and isolation
tests, the grading benchmark): not part of grading."""
from __future__ import annotations

import re


def student_view(notebook: dict) -> list[dict]:
    """What a student sees of each code cell, less what differs between two runs of the same code:
    its stream text (however the kernel split it into messages), its rich outputs and errors, with
    wall-clock seconds and execution counters left out. Two runs of a seeded lab compare equal."""
    cells = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        streams: dict[str, str] = {}
        rich = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = out.get("text", "")
                streams[out.get("name")] = streams.get(out.get("name"), "") + (
                    "".join(text) if isinstance(text, list) else text)
            else:
                rich.append({k: v for k, v in out.items() if k not in ("execution_count", "metadata", "transient")})
        cells.append(_steady({"streams": streams, "outputs": rich}))
    return cells


_SECONDS = re.compile(r"\b\d+(\.\d+)? ?s\b")


def _steady(value):
    if isinstance(value, dict):
        return {k: _steady(v) for k, v in value.items() if k != "seconds"}
    if isinstance(value, list):
        return [_steady(v) for v in value]
    return _SECONDS.sub("<seconds>", value) if isinstance(value, str) else value
