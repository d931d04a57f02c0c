"""The manual-grading tests build their classes with benchmarks/written_class.py (the planted class
the benchmarks measure), imported from the repository root."""
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
