"""The grader of the AlexNet lab, built on `alexnet_core` and on nbgrader used as a library.

Grouped by job, in the order of the data flow (ARCHITECTURE.md): `authoring/` (render, release,
reference), `submission/` (read, evidence, sanitise, execute, scoring, job), `batch/` (collect,
coordinator, pool, record), `reports/` (the class report, feedback, inert copies), `manual/` (the
TAs' grading of written answers: rubric, answer groups, the grading page), `export/` (final grades,
LMS files, formgrader), and apart from grading, `demo/` (`alexnet-lab demo` and the sample classes
the tests and benchmarks build). Runners return results; only the coordinator
(`batch/coordinator.py`) writes the automatic grades and the files a TA reads; TAs' grades go
through nbgrader's gradebook.
"""

import sys as _sys

# nbformat validates with jsonschema, which imports the optional rfc3987_syntax when installed,
# and that compiles a grammar at import: 1.0 s of every runner process (two per submission),
# measured. Notebook validation never checks IRI formats, so we make that import fail fast.
_sys.modules.setdefault("rfc3987_syntax", None)
