"""A stand-in for `python -m autograder.submission.job JOB.pkl RESULT.json` (test_pool_feeding): no notebook,
just a result for the student named in the job file, after a short pause."""
import json
import sys
import time
from pathlib import Path

from autograder.submission.results import SubmissionResult

if __name__ == "__main__":
    job, result = Path(sys.argv[1]), Path(sys.argv[2])
    sid = job.name.split(".attempt")[0]
    time.sleep(0.05)
    result.write_text(json.dumps(SubmissionResult(sid, f"{sid}.ipynb").to_dict()), encoding="utf-8")
