"""Grading for the AlexNet lab: render -> release -> collect -> prepare -> run -> check -> record.

Each step lives in the module named after it. Runners return results; only the coordinator
(`grade.py`) writes the gradebook and the files a TA reads.
"""

import sys as _sys

# nbformat validates with jsonschema, which imports the optional rfc3987_syntax when installed,
# and that compiles a grammar at import: 1.0 s of every runner process (two per submission),
# measured. Notebook validation never checks IRI formats, so we make that import fail fast.
_sys.modules.setdefault("rfc3987_syntax", None)
