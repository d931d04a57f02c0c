"""A planted class of written answers, and a graded OUT made from it without running a kernel.

The TA's side of grading (answer groups, the grading page, the rubric store) is measured and tested
on classes of 30 to 3,000 students. Running 3,000 notebooks is hours; what those parts read is only
the recorded results, so this writes them directly:

- `planted_class(n, seed)`: every question of the lab answered the way a class answers it: a
  handful of common answers, each deserving its own points and each written with small variations
  (case, punctuation, typos, sentences reordered, a word swapped); exact copies of a classmate's
  answer; blank and placeholder answers; and answers of a student's own. Every answer records the
  planted group it belongs to and the points it deserves, so a grouping can be scored against it.
  Deterministic from the seed.
- `graded_out(out, config, planted)`: an OUT folder for that class as `alexnet-lab grade` leaves
  it (graded.json, the gradebook, formgrader's files, grades.csv, report.html): synthetic
  `SubmissionResult`s written through the real `Recorder`, the path `grade` records by, so
  formgrader, export and the grading page work on it.

The texts are written for this file (in the lab's subject), not taken from the lab.
"""
from __future__ import annotations

import math
import random
import re
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the package beside it
    sys.path.insert(0, str(REPO))

from alexnet_core.contract import CHECK_CELLS, PLACEHOLDER, answer_cell  # noqa: E402
from autograder import database  # noqa: E402
from autograder.authoring.release import register  # noqa: E402
from autograder.batch.record import Recorder  # noqa: E402
from autograder.config import for_master, select_profile  # noqa: E402
from autograder.course import CourseFolder, OutputFolder  # noqa: E402
from autograder.submission.results import Answer, CheckResult, SubmissionResult  # noqa: E402
from grading_config import GradingConfig  # noqa: E402

# -- the answers ------------------------------------------------------------------------------
# Per question: the common answers (id, points deserved, text, weight in the class). Each text is a
# few sentences, so a reordered variant is still the same answer. Points are for the lab's default
# points per question (Q1, Q2, Q4b: 2; the others 1); graded_out caps them at the config's.
COMMON: dict[str, list[tuple[str, float, str, int]]] = {
    "Q1": [
        ("data-and-compute", 2.0, "There was not enough labelled data to train a big network without overfitting. "
         "Computers were also too slow, since nobody trained on GPUs yet.", 30),
        ("data-only", 1.0, "The datasets of that time were tiny, only a few thousand images. A deep model "
         "just memorised them.", 20),
        ("hardware-only", 1.0, "Training took months on the CPUs of the nineties. Without graphics cards the "
         "experiments were impossible.", 15),
        ("relu-dropout", 2.0, "Older networks used sigmoid units that trained slowly and had no dropout against "
         "overfitting. AlexNet added ReLU and dropout and trained on two GPUs with ImageNet.", 10),
        ("no-idea", 0.0, "Because the idea was new and people did not believe in neural networks.", 8),
    ],
    "Q2": [
        ("shared-texture", 2.0, "The first layer kernels respond to local texture such as white fluffy fur. "
         "A wallaby has similar fur and colours, so the same kernels fire for both.", 30),
        ("shape-pose", 2.0, "Some kernels pick up the outline of an upright animal with pointed ears. The dog sits "
         "like a wallaby, so those activations look like wallaby features.", 18),
        ("background", 1.0, "Both pictures are taken outdoors on grass or sand. The background kernels are "
         "the same for the two classes.", 14),
        ("random-guess", 0.0, "The network is just unsure and guesses randomly between animals.", 8),
    ],
    "Q3a": [
        ("about-ten", 1.0, "About 10% before any training.", 35),
        ("ten-percent", 1.0, "The accuracy was 10 percent.", 25),
        ("chance", 1.0, "Roughly ten percent, the same as chance.", 15),
        ("zero", 0.0, "It was 0 because the model had not learnt anything yet.", 8),
    ],
    "Q3b": [
        ("chance-ten-classes", 1.0, "Yes, it makes sense. With ten classes a random network is right one time "
         "in ten.", 35),
        ("random-weights", 1.0, "Yes because the weights are random so the prediction is a guess among the ten "
         "CIFAR classes.", 20),
        ("expected-zero", 0.0, "No, I expected zero accuracy because nothing was trained.", 12),
        ("expected-fifty", 0.0, "No. I thought it would be around fifty percent since the images are easy.", 8),
    ],
    "Q3c": [
        ("fast-then-flat", 1.0, "It rises quickly during the first epochs. Later it increases slowly and levels off.", 35),
        ("steady", 0.5, "The accuracy goes up every epoch.", 20),
        ("overfit-drop", 1.0, "Test accuracy climbs for a few epochs, then stalls. Near the end it even drops a "
         "little while the training loss keeps falling.", 12),
        ("goes-down", 0.0, "The accuracy goes down over training.", 6),
    ],
    "Q4a": [
        ("noise-to-structure", 1.0, "Before training the kernels are random noise. After training they show "
         "smooth colour blobs and some edges.", 35),
        ("smoother", 1.0, "The trained kernels are smoother and more structured than the untrained ones.", 20),
        ("no-change", 0.0, "I could not see any difference between them.", 10),
        ("sharper-colours", 0.5, "They have stronger colours now.", 8),
    ],
    "Q4b": [
        ("colour-coarse-edges", 2.0, "They detect colour regions and coarse edges. On small 32 pixel images "
         "that is enough to separate a blue sky from green grass or a red truck.", 30),
        ("colour-only", 1.0, "The kernels react to the colours of the image, like blue for ships and planes.", 20),
        ("textures", 2.0, "They find low level textures and gradients. Deeper layers combine them into parts "
         "of objects, which is enough for ten classes.", 12),
        ("memorise", 0.0, "The network memorises the training images.", 8),
    ],
}

# Answers of a student's own: built from clauses that each carry points (the answer deserves their
# sum, capped at the question's), with the student's own opening, so no two are the same text.
OWN_CLAUSES: dict[str, list[tuple[float, str]]] = {
    "Q1": [(1, "LeNet was trained on small grey digit images, and scaling it to photos of a thousand categories needed far more examples"),
           (1, "the backpropagation of that time ran on a single processor core for weeks"),
           (0, "researchers preferred hand made features like SIFT and HOG with support vector machines"),
           (1, "vanishing gradients made networks with many layers stop learning"),
           (0, "the ILSVRC contest did not exist in 1998"),
           (1, "without a huge dataset like ImageNet millions of weights cannot be fitted"),
           (0, "convolutions were considered too expensive by reviewers")],
    "Q2": [(1, "a Samoyed's cream coloured coat gives the same edge responses as the pale belly of a wallaby"),
           (1, "kernels only look at small patches so they cannot see the whole animal"),
           (0, "the photo might have been labelled wrongly in the dataset"),
           (1, "both animals have a long snout and large ears, which match the same learned filters"),
           (0, "a wallaby is also a mammal so the classes are related"),
           (1, "ten percent is small and comes from shared low level patterns like fur strokes")],
    "Q3a": [(1, "my notebook printed {acc:.1f}% on the test set before training"),
            (1, "I got {acc:.2f} percent"),
            (0, "it printed something like 45 percent"),
            (1, "{acc:.0f}% right after the model was created")],
    "Q3b": [(1, "an untrained model picks classes with no information so one in ten is expected"),
            (1, "ten balanced classes give a chance level of ten percent"),
            (0, "I think it should be higher because AlexNet is a strong model"),
            (0, "the data might be loaded in the wrong order")],
    "Q3c": [(1, "the curve is steep at first and flattens after about five epochs"),
            (1, "most of the gain happens in the first two epochs"),
            (0, "it jumps around randomly between epochs"),
            (1, "the improvement per epoch gets smaller and smaller")],
    "Q4a": [(1, "the speckled random pixels turned into oriented stripes"),
            (1, "some kernels became single coloured patches, green or blue"),
            (0, "they got darker"),
            (1, "a few kernels now look like small edge detectors at different angles")],
    "Q4b": [(1, "colour contrasts tell a frog on leaves from a ship on water"),
            (1, "rough blobs match the overall shape of a car or a horse at low resolution"),
            (0, "the kernels store pictures of each class"),
            (1, "gradients between light and dark regions separate the object from its background"),
            (0, "the last layer does all the work so the kernels do not matter")],
}
OPENINGS = ("I think", "In my opinion", "My answer:", "From the notebook,", "Honestly,", "As far as I can tell,",
            "I would say", "Looking at my run,", "Short answer:", "Well,", "To me", "My guess is that",
            "Probably", "It seems that", "The reason is that", "I believe")

SYNONYMS = {"big": "large", "data": "datasets", "slow": "slower", "quickly": "fast", "random": "arbitrary",
            "kernels": "filters", "images": "pictures", "training": "learning", "similar": "alike",
            "small": "little", "detect": "find", "colours": "colors", "colour": "color", "because": "since",
            "network": "model", "accuracy": "acc", "percent": "%", "smooth": "soft"}
BLANKS = (PLACEHOLDER, "", "   ", f"{PLACEHOLDER}\n")

SHARE_COMMON = 0.70
SHARE_COPIES = 0.07
SHARE_BLANK = 0.06  # the rest: answers of the student's own


@dataclass(frozen=True)
class PlantedAnswer:
    student: str
    question: str
    text: str
    group: str
    """The planted group: 'Q1/common/data-only', 'Q1/blank', or 'Q1/own/<clauses>' (answers in a
    student's own words making the same point(s); copies share their original's group)."""
    points: float
    """What the answer deserves."""
    kind: str
    """'common' (a variant of a common answer), 'copy' (a classmate's answer, word for word),
    'blank' (empty or the placeholder) or 'own'."""

    @property
    def answered(self) -> bool:
        return self.kind != "blank"


@dataclass
class PlantedClass:
    seed: int
    students: tuple[str, ...]
    answers: dict[str, dict[str, PlantedAnswer]] = field(default_factory=dict)
    """question -> student -> answer."""
    before_training: dict[str, float] = field(default_factory=dict)
    """student -> the before-training accuracy of their own run (Q3a's number)."""

    @property
    def questions(self) -> tuple[str, ...]:
        return tuple(self.answers)

    def texts(self, question: str) -> dict[str, str]:
        return {sid: a.text for sid, a in self.answers[question].items()}

    def groups(self, question: str) -> dict[str, list[str]]:
        """Planted group -> its students."""
        found: dict[str, list[str]] = {}
        for sid, a in self.answers[question].items():
            found.setdefault(a.group, []).append(sid)
        return found


def student_ids(n: int) -> tuple[str, ...]:
    width = max(4, len(str(n)))
    return tuple(f"s{i:0{width}d}" for i in range(1, n + 1))


# -- small variations, as students type them --------------------------------------------------
def _typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    long = [i for i, w in enumerate(words) if len(w) > 4 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w, j = words[i], rng.randrange(1, len(words[i]) - 2)
    words[i] = rng.choice((w[:j] + w[j + 1] + w[j] + w[j + 2:], w[:j] + w[j + 1:], w[:j] + w[j] + w[j:]))
    return " ".join(words)


def _reorder(rng: random.Random, text: str) -> str:
    sentences = [s for s in re.split(r"(?<=[.!?])\s+", text) if s]
    if len(sentences) < 2:
        return text
    rng.shuffle(sentences)
    return " ".join(sentences)


def _swap_word(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    hits = [i for i, w in enumerate(words) if w.lower().strip(".,") in SYNONYMS]
    if not hits:
        return text
    i = rng.choice(hits)
    core = words[i].strip(".,")
    words[i] = words[i].replace(core, SYNONYMS[core.lower()])
    return " ".join(words)


def _case(rng: random.Random, text: str) -> str:
    return rng.choice((text.lower(), text.upper() if len(text) < 60 else text.lower(), text[:1].lower() + text[1:]))


def _punctuation(rng: random.Random, text: str) -> str:
    return rng.choice((text.rstrip("."), text.replace(",", ""), text.replace(". ", "; ", 1),
                       text.rstrip(".") + "!", text.replace(" ", "  ", 1) + "\n"))


VARIATIONS = (_typo, _reorder, _swap_word, _case, _punctuation)


def variant(rng: random.Random, text: str) -> str:
    """The text as one more student types it: as it is (a quarter of them), or with one to three
    small changes."""
    if rng.random() < 0.25:
        return text
    for change in rng.sample(VARIATIONS, rng.randint(1, 3)):
        text = change(rng, text)
    return text


def own_answer(rng: random.Random, question: str, acc: float, max_points: float,
               used: set[str]) -> tuple[str, float, str]:
    """An answer of the student's own, not written before: an opening and one clause (two, one
    time in four), maybe a detail of their run. Returns (text, points, which clauses): students who
    make the same point(s) in their own words give the same answer in substance."""
    clauses = OWN_CLAUSES[question]
    for _ in range(50):
        chosen = sorted(rng.sample(range(len(clauses)), 2 if rng.random() < 0.25 else 1))
        opening = rng.choice(OPENINGS)
        text = f"{opening} {' and '.join(clauses[i][1].format(acc=acc) for i in chosen)}."
        extra = rng.random()
        if extra < 0.3:  # a detail of the student's own run
            text += f" In my run it was epoch {rng.randint(2, 9)} where I noticed it."
        elif extra < 0.5:
            text += f" (checked with {rng.choice(('my partner', 'the TA', 'the lecture slides', 'the paper'))})"
        if text not in used:
            break
    else:  # a class larger than the combinations: numbered (still an answer of its own)
        text = f"{text} My student number ends in {len(used)}."
    used.add(text)
    points = min(max_points, float(sum(clauses[i][0] for i in chosen)))
    return text, points, "+".join(str(i) for i in chosen)


DEFAULT_MAX = {"Q1": 2.0, "Q2": 2.0, "Q3a": 1.0, "Q3b": 1.0, "Q3c": 1.0, "Q4a": 1.0, "Q4b": 2.0}


def planted_class(n_students: int, seed: int = 0) -> PlantedClass:
    """`n_students` students answering every question of the lab (see the module's docstring)."""
    rng = random.Random(seed)
    students = student_ids(n_students)
    planted = PlantedClass(seed, students)
    planted.before_training = {sid: round(rng.uniform(8.5, 11.5), 2) for sid in students}
    for question, commons in COMMON.items():
        qrng = random.Random(f"{seed}/{question}")
        max_points = DEFAULT_MAX[question]
        order = list(students)
        qrng.shuffle(order)
        n_common = round(n_students * SHARE_COMMON)
        n_copy = round(n_students * SHARE_COPIES)
        n_blank = round(n_students * SHARE_BLANK)
        answers: dict[str, PlantedAnswer] = {}
        weights = [w for *_, w in commons]
        for sid in order[:n_common]:
            key, points, text, _ = qrng.choices(commons, weights)[0]
            answers[sid] = PlantedAnswer(sid, question, variant(qrng, text), f"{question}/common/{key}",
                                         points, "common")
        for sid in order[n_common:n_common + n_blank]:
            answers[sid] = PlantedAnswer(sid, question, qrng.choice(BLANKS), f"{question}/blank", 0.0, "blank")
        used: set[str] = set()
        own_students = order[n_common + n_blank + n_copy:]
        for sid in own_students:
            text, points, said = own_answer(qrng, question, planted.before_training[sid], max_points, used)
            answers[sid] = PlantedAnswer(sid, question, text, f"{question}/own/{said}", points, "own")
        # Copies: a classmate's own answer, word for word (or a common one's variant, when no own answers).
        sources = [answers[s] for s in own_students] or [answers[s] for s in order[:n_common]]
        for sid in order[n_common + n_blank:n_common + n_blank + n_copy]:
            original = qrng.choice(sources)
            answers[sid] = PlantedAnswer(sid, question, original.text, original.group, original.points, "copy")
        planted.answers[question] = dict(sorted(answers.items()))
    return planted


# -- a graded OUT from it ---------------------------------------------------------------------
def result_of(planted: PlantedClass, sid: str, config: GradingConfig) -> SubmissionResult:
    """The result `grade` would record for a student who ran the lab well and wrote these answers."""
    points = config.points
    checks = [CheckResult(name, cell, float(points.checks()[name]), float(points.checks()[name]))
              for name, cell in CHECK_CELLS.items()]
    answers = []
    for label, worth in points.questions.items():
        a = planted.answers.get(label, {}).get(sid)
        text, answered = (a.text, a.answered) if a else (PLACEHOLDER, False)
        note = "" if answered else "unanswered: the cell still holds the placeholder"
        if label == "Q3a" and answered:
            note = f"own before-training accuracy {planted.before_training[sid]:.1f}%"
        answers.append(Answer(label, answer_cell(label), text, answered, float(worth), note))
    acc = planted.before_training[sid]
    trajectory = {"seed": zlib.crc32(f"{planted.seed}/{sid}".encode()) % 2**31, "accuracy": [acc, 31.0, 38.5, 42.0, 44.5]}
    return SubmissionResult(sid, f"{sid}.ipynb", checks=checks, answers=answers, device="cpu", seconds=1.0,
                            trajectory_submitted=trajectory, trajectory_rerun=trajectory)


def graded_out(out: Path, config: GradingConfig, planted: PlantedClass, master: Path | None = None,
               profile: str = "smoke") -> OutputFolder:
    """OUT for the planted class, as `alexnet-lab grade` leaves it, written by the real Recorder.

    `master`: the course's master (default: this repository's). No kernel runs: each result is what
    the grader would have recorded for a student who ran the lab and wrote these answers.
    """
    master = Path(master) if master else CourseFolder.locate(REPO, config.course).master
    config = for_master(config, master)
    folder = OutputFolder.of(Path(out), config)  # the gradebook config.gradebook.url names (default: OUT's SQLite)
    folder.work.mkdir(parents=True, exist_ok=True)
    database.claim(folder.nbgrader)  # as grade does: OUT records which gradebook it was graded into
    register(folder.nbgrader.root, master, config, select_profile(config, profile))
    # The class tables once, at the end: a batch rewrites them as it goes so a TA can watch (and a
    # kill leaves them whole); here nobody watches, and the final tables are the same.
    recorder = Recorder(folder, config, master, tables_every_s=math.inf)
    for sid in planted.students:
        recorder.record(result_of(planted, sid, config))
    recorder.flush()
    return folder


if __name__ == "__main__":  # a quick look: the first answers to each question
    klass = planted_class(int(sys.argv[1]) if len(sys.argv) > 1 else 20, seed=1)
    for q in klass.questions:
        print(f"== {q}: {len(klass.groups(q))} planted groups")
        for sid, a in list(klass.answers[q].items())[:8]:
            print(f"  {sid} {a.kind:<6} {a.points:>3} {a.group:<28} {a.text[:90]!r}")
