"""The local pool pulls jobs from the coordinator's lazy generator only as results come back."""
import dataclasses
from pathlib import Path
from types import SimpleNamespace

from notebooks import CONFIG

from autograder.batch.pool import JOBS_AHEAD_PER_SLOT, LocalPool, Slot

HERE = Path(__file__).resolve().parent


@dataclasses.dataclass
class FakeJob:
    prepared: SimpleNamespace
    device: str = "cpu"
    threads: int = 1
    warm: bool = False
    zygote: str | None = None
    gpu_share: float = 1.0


def test_results_are_yielded_while_the_generator_still_has_jobs(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", f"{HERE}:{HERE.parent.parent}")
    slots = [Slot(0, "cpu", 1), Slot(1, "cpu", 1)]
    pool = LocalPool(slots, CONFIG, workdir=tmp_path, timeout_s=60, runner_module="pool_fake_runner")
    window = JOBS_AHEAD_PER_SLOT * len(slots)
    pulled = []

    def jobs():  # as coordinator.py's _jobs: each job prepared only when the pool asks for it
        for i in range(12):
            pulled.append(i)
            yield FakeJob(SimpleNamespace(student_id=f"s{i:02d}", source=f"s{i:02d}.ipynb"))

    seen, statuses = [], set()
    for result in pool.run(jobs()):
        seen.append(result.student_id)
        statuses.add((result.status, result.attempts))
        assert len(pulled) - (len(seen) - 1) <= window  # never more than `window` handed out ahead
        if len(seen) == 1:
            assert len(pulled) < 12  # the first result arrives before the whole class is prepared
    assert sorted(seen) == [f"s{i:02d}" for i in range(12)]
    assert statuses == {("graded", 1)} and not list(tmp_path.glob("*.pkl"))
