"""Collect: turn what a TA downloaded into `Submission(student_id, path)` pairs, plus problems.

INPUT paths may be any mix of a single notebook, a folder of notebooks, an nbgrader
`submitted/<student>/<assignment>/<notebook>.ipynb` tree, and LMS zips:

- Canvas "Download Submissions": `<lastfirst>_<userid>_<submissionid>_<file>`, late ones
  `<lastfirst>_LATE_<userid>_<submissionid>_<file>`; a resubmitted file gets `-1`, `-2`... before
  its extension. Student id = the Canvas user id, or the roster's `student_id` where its `lms_id`
  (or `name`) matches.
- Brightspace "Download": one folder per submission,
  `<num>-<num> - <name> - <date>/<file>`, or (older downloads) flat files
  `<num>-<num> - <name> - <date> - <file>`, with an `index.html` at the root. The name is all
  Brightspace gives: it maps through the roster's `name` (or `lms_id`), else becomes a slug.
- Moodle "Download all submissions": one folder per student,
  `<full name>_<participant id>_assignsubmission_file/<file>`, or (with "Download submissions in
  folders" off) flat files `<full name>_<participant id>_assignsubmission_file_<file>`. The
  participant id is the assignment's own number, not the user's ID number: the name maps through
  the roster's `name`, else the student is `<name>_<participant id>` as a slug (blind marking
  names everyone "Participant").

Nothing is guessed: two notebooks for one student and files that are not notebooks become
`problems`. Zips are extracted into a private folder the caller owns; inputs are never modified.
"""
from __future__ import annotations

import csv
import hashlib
import io
import itertools
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from alexnet_core.contract import ASSIGNMENT, MB
from autograder.course import OutputFolder
from autograder.errors import ConfigError
from autograder.gradebook import Gradebook
from autograder.sources import BRIGHTSPACE, CANVAS, MOODLE_FLAT, MOODLE_FOLDER, NBGRADER_SUBMITTED
from grading_config import Limits

NOTEBOOK_SUFFIX = ".ipynb"
# Files LMS downloads add next to the submissions; not the students' work, so not reported.
LMS_NOISE = {"index.html", ".ds_store", "thumbs.db"}



@dataclass
class Submission:
    """One notebook to grade, and where it came from."""

    student_id: str
    path: Path
    """The notebook to read (inside the private extraction folder for zips)."""
    origin: str
    """What the TA gave, for reports: 'class.zip!smithjane_1234_5678_alexnet.ipynb'."""
    late: bool = False


@dataclass
class Problem:
    """Something the TA must resolve by hand; never graded by guessing."""

    origin: str
    message: str
    student_id: str | None = None


@dataclass
class Collection:
    submissions: list[Submission] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    duplicates: dict[str, list[Submission]] = field(default_factory=dict)
    """Students with more than one notebook: none of theirs is graded."""
    unknown: list[str] = field(default_factory=list)
    """Student ids not on the roster (graded, and reported)."""
    roster: Roster | None = None
    """The roster used (its names and LMS ids go into the gradebook)."""


@dataclass
class Roster:
    """Who is in the class: student ids, and how LMS names and ids map to them."""

    students: set[str]
    by_lms: dict[str, str] = field(default_factory=dict)
    by_name: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    """Rows that could not be used as they are, each naming the roster's file and line."""
    names: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Student id -> (first name, last name) as the roster gives them."""

    @property
    def lms_ids(self) -> dict[str, str]:
        """Student id -> LMS id (one per student; an LMS id two rows share is in neither)."""
        return {sid: lms for lms, sid in self.by_lms.items()}

    def map(self, lms_id: str | None, name: str | None) -> str | None:
        if lms_id and lms_id in self.by_lms:
            return self.by_lms[lms_id]
        if lms_id and lms_id in self.students:
            return lms_id
        if name:
            return self.by_name.get(_squash(name))
        return None


UNSAFE_ID_CHARS = re.compile(r"[^A-Za-z0-9_.\-]+")
MAX_ID_CHARS = 64


_RESERVED = frozenset(name.lower() for name in OutputFolder.OWN_NAMES)


def safe_id(raw: str) -> str:
    """The student id as a folder and gradebook key: [A-Za-z0-9_.-] only, not starting with a dot or
    a dash, at most 64 characters, never one of the output folder's own names. Whatever a file or a
    roster calls a student, their results stay inside OUT and next to no one else's files; the name
    as given is kept in the submission's origin, for display. Where the ASCII form drops letters or
    digits (names in another script, a file name that is not UTF-8), a tag of the name as written
    follows: '王伟' and '李娜' are two students, not two notebooks of one 'student'."""
    text = _ascii_id(raw).lstrip("._-")
    if _loses_letters(raw):
        text = f"{text[:MAX_ID_CHARS - TAG_CHARS - 1] or 'student'}_{_tag(raw)}"
    text = text[:MAX_ID_CHARS] or "student"
    if text.lower() in _RESERVED:
        text += "_student"
    return text


TAG_CHARS = 8


def _loses_letters(text: str) -> bool:
    """Whether folding `text` to ASCII drops a letter or digit (an accent alone is no loss: 'Zoë' is
    'Zoe'), or a byte of a file name that is not UTF-8 (Python holds it as a lone surrogate)."""
    return any(not ch.isascii() and (unicodedata.category(ch)[0] in "LN" or unicodedata.category(ch) == "Cs")
               for ch in unicodedata.normalize("NFKD", str(text)))


def _tag(text: str) -> str:
    """TAG_CHARS hex digits of a hash of the name as written (NFKC: one name typed two ways is one
    name), stable from run to run, so a resumed batch finds the same student again."""
    name = unicodedata.normalize("NFKC", str(text)).encode("utf-8", "surrogateescape")
    return hashlib.sha256(name).hexdigest()[:TAG_CHARS]


def _ascii_id(raw: str) -> str:
    """The id in ASCII with every run of other characters as '_' (safe_id before its trimming)."""
    text = unicodedata.normalize("NFKD", str(raw)).encode("ascii", "ignore").decode()
    return UNSAFE_ID_CHARS.sub("_", text)


def slug(name: str) -> str:
    """'Doe, Jane-Marie' -> 'doe_jane-marie': a stable nbgrader-safe id from a name."""
    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9\-]+", "_", text.lower()).strip("_")
    if _loses_letters(name):  # as in safe_id: two names in another script are two students
        text = f"{text or 'unnamed'}_{_tag(name.casefold())}"
    return text or "unnamed"


def _squash(text: str) -> str:
    """'Doe, Jane' -> 'doejane': how Canvas writes a name, and how we compare names."""
    return re.sub(r"[^a-z0-9]+", "", unicodedata.normalize("NFKD", text).lower())


def _name_keys(text: str) -> set[str]:
    """Every order of a roster name's parts, squashed: LMSs write 'last first' or 'first last'."""
    parts = [p for p in re.split(r"[^a-z0-9]+", unicodedata.normalize("NFKD", text).lower()) if p]
    if not parts:  # no name at all (students the grader added itself): nothing to match on
        return set()
    if len(parts) > 4:  # permutations explode; such names match only as written
        return {"".join(parts)}
    return {"".join(order) for order in itertools.permutations(parts)}


MAX_ROSTER_BYTES = 50 * MB
AS_TEXT = str.maketrans({"<": "\u2039", ">": "\u203a"})
"""A roster name's < and > as the look-alikes ‹ ›: nbgrader's templates print first_name and last_name
into formgrader's pages unescaped, so a name must hold no markup (names are matched squashed, so
matching does not change)."""
FORMULA_STARTS = ("=", "+", "-", "@")


def load_roster(path: Path) -> Roster:
    """A CSV with a `student_id` column, optional `lms_id` and `name` (or first/last name).

    Only a roster that cannot be used at all stops the command (unreadable, no `student_id`
    column): grading without it would file students under other ids. A bad row is a problem of
    its own, naming the file, the line and the fix, and the rest of the roster is used.
    """
    try:
        if path.stat().st_size > MAX_ROSTER_BYTES:
            raise ConfigError(f"{path}: the roster is over {MAX_ROSTER_BYTES // MB} MB; give a CSV of the class.")
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the roster ({exc.strerror}).") from None
    text, bad_lines = _decode_roster(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error:
        header = None
    columns = [(h or "").strip().lstrip("\ufeff").lower() for h in (header or [])]
    if "student_id" not in columns:
        raise ConfigError(f"{path}: the roster needs a 'student_id' column (one row per student).")
    roster = Roster(students=set())
    rows: list[tuple[int, dict[str, str]]] = []
    last = reader.line_num
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # a field over the csv module's limit, a stray quote...
            roster.problems.append(_row_problem(path, reader.line_num, f"unreadable ({exc}): skipped; fix that line"))
            last = reader.line_num
            continue
        first, last = last + 1, reader.line_num
        if not any(f.strip() for f in fields):
            continue  # an empty row, as spreadsheets write them
        if any(n in bad_lines for n in range(first, last + 1)):
            roster.problems.append(_row_problem(path, first, "is not UTF-8 (unreadable characters replaced); "
                                                "save the roster as CSV UTF-8"))
        if any("\x00" in f for f in fields):
            # No text holds NUL, and PostgreSQL refuses it: one such name stopped the batch at enrolment.
            fields = [f.replace("\x00", "\ufffd") for f in fields]
            roster.problems.append(_row_problem(path, first, "holds NUL characters (replaced by U+FFFD); save the "
                                                "roster again as CSV UTF-8 from the spreadsheet or the LMS"))
        if len(fields) != len(columns):
            roster.problems.append(_row_problem(
                path, first, f"has {len(fields)} fields where the header has {len(columns)}: skipped; "
                             "quote fields that hold commas"))
            continue
        rows.append((first, dict(zip(columns, fields, strict=True))))
    _fill_roster(roster, path, rows)
    return roster


def _decode_roster(data: bytes) -> tuple[str, set[int]]:
    """The roster's text and the line numbers that were not UTF-8. Excel's UTF-16 ("Unicode text")
    and UTF-8 with a BOM are read too; other encodings are read line by line, bad lines marked."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), set()
        except UnicodeDecodeError:
            pass
    data = data.removeprefix(b"\xef\xbb\xbf")
    try:
        return data.decode("utf-8"), set()
    except UnicodeDecodeError:
        pass
    lines, bad = [], set()
    for number, line in enumerate(data.split(b"\n"), 1):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("utf-8", errors="replace"))
            bad.add(number)
    return "\n".join(lines), bad


def _row_problem(path: Path, line: int, message: str, student_id: str | None = None) -> Problem:
    return Problem(f"{path} line {line}", message, student_id)


def _fill_roster(roster: Roster, path: Path, rows: list[tuple[int, dict[str, str]]]) -> None:
    first_line: dict[str, int] = {}
    lms_owner: dict[str, str] = {}
    name_owner: dict[str, set[str]] = {}
    for line, row in rows:
        raw = row.get("student_id", "").strip()
        if not raw:
            roster.problems.append(_row_problem(path, line, "has no student_id: skipped; fill it in"))
            continue
        sid = safe_id(raw)
        if not _has_safe_form(raw):
            roster.problems.append(_row_problem(path, line, f"student id {raw[:80]!r} has no letters or digits to "
                                                "make a folder name of: skipped; give the student a real id"))
            continue
        if sid in first_line:
            roster.problems.append(_row_problem(path, line, f"student id {raw[:80]!r} (as {sid!r}) is already on line "
                                                f"{first_line[sid]}: skipped; keep one row per student", sid))
            continue
        first_line[sid] = line
        if sid != raw:
            roster.problems.append(_row_problem(path, line, f"student id {raw[:80]!r} is filed as {sid!r} (ids are "
                                                "letters, digits, _ . -); change the roster if that is wrong", sid))
        name = (row.get("name") or " ".join(filter(None, [row.get("first_name"), row.get("last_name")]))).strip()
        if name.startswith(FORMULA_STARTS) or (row.get("lms_id") or "").strip().startswith(FORMULA_STARTS):
            roster.problems.append(_row_problem(path, line, "a name or LMS id starts like a spreadsheet formula; it "
                                                "is used for matching only and never written out as a formula", sid))
        roster.students.add(sid)
        given = _split_name(row, name)
        roster.names[sid] = tuple(part.translate(AS_TEXT) for part in given)
        if roster.names[sid] != given:
            roster.problems.append(_row_problem(path, line, f"the name {name[:80]!r} holds < or >, which nbgrader's "
                                                "formgrader prints as markup: stored (gradebook, formgrader, LMS "
                                                f"files) as {' '.join(roster.names[sid]).strip()[:80]!r}; correct the "
                                                "roster if that is not the name", sid))
        lms = (row.get("lms_id") or "").strip()
        if lms:
            if lms in lms_owner and lms_owner[lms] != sid:
                roster.problems.append(_row_problem(path, line, f"LMS id {lms[:40]!r} is also {lms_owner[lms]!r}'s: "
                                                    "mapped to neither; fix the roster", sid))
                roster.by_lms.pop(lms, None)
                lms_owner[lms] = ""  # ambiguous from now on
            elif lms not in lms_owner:
                lms_owner[lms] = sid
                roster.by_lms[lms] = sid
        for key in _name_keys(name):
            name_owner.setdefault(key, set()).add(sid)
    for key, owners in name_owner.items():
        if len(owners) == 1:  # two students of one name: matching by name would guess
            roster.by_name[key] = next(iter(owners))


def _split_name(row: dict[str, str], name: str) -> tuple[str, str]:
    """(first, last): the roster's own columns, else 'Last, First', else 'First ... Last'."""
    first, last = (row.get("first_name") or "").strip(), (row.get("last_name") or "").strip()
    if first or last:
        return first, last
    if "," in name:
        last, _, first = name.partition(",")
        return first.strip(), last.strip()
    head, _, tail = name.rpartition(" ")
    return (head.strip(), tail.strip()) if head else ("", tail.strip())


def _has_safe_form(raw: str) -> bool:
    return bool(_ascii_id(raw).strip("._-"))


def roster_from_gradebook(db_url: str) -> Roster | None:
    """The students already in the nbgrader gradebook, or None when it has none."""
    with Gradebook(db_url) as gb:
        students = gb.students
        roster = Roster(students={s.id for s in students})
        for s in students:
            for key in _name_keys(f"{s.first_name or ''} {s.last_name or ''}"):
                roster.by_name[key] = s.id
            if s.lms_user_id:
                roster.by_lms[s.lms_user_id] = s.id
    return roster if roster.students else None


class _Collector:
    def __init__(self, scratch: Path, roster: Roster | None, assignment: str, notebook: str, limits: Limits):
        self.scratch = scratch
        self.limits = limits
        self.roster = roster
        self.assignment = assignment
        self.notebook = notebook
        self.found: list[Submission] = []
        self.problems: list[Problem] = []

    # -- identities -------------------------------------------------------------------------
    def _identify(self, lms_id: str | None, name: str | None, fallback: str) -> str:
        if self.roster:
            mapped = self.roster.map(lms_id, name)
            if mapped:
                return mapped
        return fallback

    def _add(self, student_id: str, path: Path, origin: str, late: bool = False) -> None:
        # Every id passes here, from a file name, a folder, an LMS name or the roster.
        self.found.append(Submission(safe_id(student_id), path, origin, late))

    # -- inputs -----------------------------------------------------------------------------
    def add_input(self, path: Path) -> None:
        if not path.exists():
            self.problems.append(Problem(str(path), "no such file or folder"))
        elif path.is_dir():
            self._add_folder(path, origin=str(path))
        elif path.suffix.lower() == ".zip":
            self._add_zip(path)
        elif path.suffix.lower() == NOTEBOOK_SUFFIX:
            self._add(self._identify(path.stem, path.stem, path.stem), path, str(path))
        else:
            self.problems.append(Problem(str(path), "not a notebook (.ipynb), folder or zip: skipped"))

    def _add_folder(self, folder: Path, origin: str) -> None:
        if (folder / NBGRADER_SUBMITTED).is_dir():
            folder = folder / NBGRADER_SUBMITTED
            origin = _join(origin, Path(NBGRADER_SUBMITTED))
        if folder.name == NBGRADER_SUBMITTED:
            self._add_submitted_tree(folder, origin)
            return
        entries = sorted(p for p in folder.rglob("*") if p.is_file() and not _hidden(p.relative_to(folder)))
        lms = [p for p in entries if _lms_kind(p.relative_to(folder)) is not None]
        for path in entries:
            rel = path.relative_to(folder)
            shown = _join(origin, rel)
            if path.name.lower() in LMS_NOISE:
                continue
            kind = _lms_kind(rel)
            if kind:
                self._add_lms(kind, rel, path, shown)
            elif lms:
                self.problems.append(Problem(shown, "file name matches no Canvas, Brightspace or Moodle pattern: "
                                                    "skipped"))
            elif path.suffix.lower() == NOTEBOOK_SUFFIX:
                sid = self._loose_id(rel)
                self._add(self._identify(sid, sid, sid), path, shown)
            else:
                self.problems.append(Problem(shown, "not a notebook (.ipynb): skipped"))

    def _loose_id(self, rel: Path) -> str:
        """Who a notebook in a plain folder is: its file name (ann.ipynb), unless the file has the
        release's own name, as every student's has; then the folder it sits in (ann/alexnet.ipynb,
        section-2/ann/alexnet/alexnet.ipynb: the assignment's folder names nobody). Without this a
        folder per student made the whole class one student 'alexnet', and none was graded."""
        folders = [part for part in rel.parts[:-1] if part.casefold() != self.assignment.casefold()]
        if rel.stem.casefold() == self.notebook.casefold() and folders:
            return folders[-1]
        return rel.stem

    def _add_submitted_tree(self, folder: Path, origin: str) -> None:
        """nbgrader layout: submitted/<student>/<assignment>/<notebook>.ipynb."""
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(folder)
            shown = _join(origin, rel)
            if _hidden(rel) or path.name == "timestamp.txt":
                continue
            if path.suffix.lower() != NOTEBOOK_SUFFIX:
                self.problems.append(Problem(shown, "not a notebook (.ipynb): skipped", rel.parts[0]))
            elif len(rel.parts) != 3:
                self.problems.append(Problem(shown, "expected submitted/<student>/<assignment>/<notebook>.ipynb"))
            elif rel.parts[1] != self.assignment:
                self.problems.append(
                    Problem(shown, f"assignment folder {rel.parts[1]!r}, expected {self.assignment!r}: skipped", rel.parts[0])
                )
            else:
                sid = rel.parts[0]
                self._add(self._identify(sid, None, sid), path, shown)

    def _add_zip(self, path: Path) -> None:
        target = self.scratch / f"zip{len(list(self.scratch.glob('zip*'))):03d}-{slug(path.stem)}"
        try:
            with zipfile.ZipFile(path) as zf:
                members = zf.infolist()
                if len(members) > self.limits.zip_members:
                    self.problems.append(Problem(str(path), f"{len(members)} members, more than limits.zip_members "
                                                 f"({self.limits.zip_members}); only the first are read"))
                budget = self.limits.zip_total_mb * MB
                for info in members[:self.limits.zip_members]:
                    shown = f"{path}!{info.filename[:200]}"
                    why = _member_problem(info, budget, self.limits.zip_ratio)
                    if why:
                        self.problems.append(Problem(shown, f"{why}: skipped"))
                        continue
                    try:
                        zf.extract(info, target)
                    except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error) as exc:
                        # Corrupt data, an unsupported method, a password, a name the disk refuses:
                        # this member is a problem, the rest of the zip is still read. zipfile finds
                        # a bad CRC only at the end, after writing: what it wrote is not a submission.
                        partial = target / name_of(info)
                        if partial.is_file():
                            partial.unlink()
                        self.problems.append(Problem(shown, f"cannot be extracted ({type(exc).__name__}: "
                                                     f"{str(exc)[:100]}): skipped; ask for the file again"))
                        continue
                    budget -= info.file_size
        except (zipfile.BadZipFile, OSError) as exc:
            self.problems.append(Problem(str(path), f"not a readable zip file ({str(exc)[:100]}): skipped"))
            return
        self._add_folder(target, origin=f"{path}!")

    def _add_lms(self, kind: str, rel: Path, path: Path, shown: str) -> None:
        if kind == "canvas":
            m = CANVAS.match(rel.name)
            fallback = m["userid"]
            sid = self._identify(m["userid"], m["name"], fallback)
            filename = m["file"]
            late = bool(m["late"])
        elif kind == "moodle":
            m = MOODLE_FOLDER.match(rel.parts[0]) if len(rel.parts) > 1 else MOODLE_FLAT.match(rel.name)
            sid = self._identify(None, m["name"], slug(f"{m['name']} {m['participant']}"))
            filename = rel.name if len(rel.parts) > 1 else m["file"]
            late = False  # Moodle's names give no time: its own grader report shows who was late
        else:
            m = BRIGHTSPACE.match(rel.parts[0]) if len(rel.parts) > 1 else BRIGHTSPACE.match(rel.name)
            sid = self._identify(None, m["name"], slug(m["name"]))
            filename = rel.name if len(rel.parts) > 1 else m["file"]
            late = False
        if not filename.lower().endswith(NOTEBOOK_SUFFIX):
            self.problems.append(Problem(shown, "not a notebook (.ipynb): skipped", sid))
            return
        self._add(sid, path, shown, late)

    # -- result -----------------------------------------------------------------------------
    def result(self) -> Collection:
        out = Collection(problems=self.problems, roster=self.roster)
        by_student: dict[str, list[Submission]] = {}
        for sub in self.found:
            by_student.setdefault(sub.student_id, []).append(sub)
        for sid, subs in by_student.items():
            if len(subs) > 1:
                out.duplicates[sid] = subs
                shown = ", ".join(s.origin for s in subs)
                out.problems.append(Problem(shown, f"{len(subs)} notebooks for {sid}: none graded; keep one and run again", sid))
            else:
                out.submissions.append(subs[0])
        if self.roster:
            out.unknown = sorted(s for s in by_student if s not in self.roster.students)
            for sid in out.unknown:
                out.problems.append(Problem(by_student[sid][0].origin, f"student id {sid!r} is not on the roster", sid))
        out.submissions.sort(key=lambda s: s.student_id)
        return out


def name_of(info: zipfile.ZipInfo) -> Path:
    """Where zipfile extracts a member, relative to the target folder."""
    return Path(*[part for part in Path(info.filename).parts if part not in ("", ".", "/")])


def _member_problem(info: zipfile.ZipInfo, budget: float, max_ratio: float) -> str | None:
    """Why a zip member is not extracted, or None. Sizes are the declared ones, which zipfile
    enforces while it reads, so a member cannot expand past what it says."""
    name = Path(info.filename)
    if name.is_absolute() or ".." in name.parts:  # zip slip: it may not leave the extraction folder
        return "unsafe path in zip"
    if len(info.filename) > 1000 or any(len(part.encode()) > 200 for part in name.parts):
        return "a name too long for a file system"
    if info.flag_bits & 0x1:
        return "encrypted (the grader has no password)"
    if info.file_size > budget:
        return "the zip expands past limits.zip_total_mb"
    if info.file_size > MB and info.file_size > max_ratio * max(info.compress_size, 1):
        return f"expands {info.file_size / max(info.compress_size, 1):.0f} times (limits.zip_ratio), like a zip bomb"
    return None


def _join(origin: str, rel: Path) -> str:
    """'class.zip!' + 'a/b.ipynb' -> 'class.zip!a/b.ipynb'; folders join with '/'."""
    return origin + rel.as_posix() if origin.endswith("!") else f"{origin}/{rel.as_posix()}"


def _hidden(rel: Path) -> bool:
    """macOS and Jupyter leave these in folders and zips; they are never submissions."""
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.parts)


def _lms_kind(rel: Path) -> str | None:
    if len(rel.parts) == 1 and CANVAS.match(rel.name):
        return "canvas"
    head = rel.parts[0] if len(rel.parts) > 1 else rel.name
    m = BRIGHTSPACE.match(head)
    if m and (len(rel.parts) > 1 or m["file"]):
        return "brightspace"
    if MOODLE_FOLDER.match(head) if len(rel.parts) > 1 else MOODLE_FLAT.match(rel.name):
        return "moodle"
    return None


def collect(
    inputs: list[Path],
    scratch: Path,
    roster: Roster | None = None,
    assignment: str = ASSIGNMENT,
    notebook: str = ASSIGNMENT,
    *,
    limits: Limits,
) -> Collection:
    """All submissions found in `inputs`; zips are extracted under `scratch` (caller-owned)."""
    scratch.mkdir(parents=True, exist_ok=True)
    scratch.chmod(0o700)  # other students' work: readable by the grader only
    collector = _Collector(scratch, roster, assignment, notebook, limits)
    if roster is not None:
        collector.problems.extend(roster.problems)  # the roster's bad rows, reported with the inputs'
    for path in inputs:
        collector.add_input(Path(path))
    return collector.result()
