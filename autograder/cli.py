"""`alexnet-lab`: one subcommand per job; each calls one function in the module that owns it.

Exit codes: 0 when the job ran (grading exits 0 even when some submissions failed: they are
recorded with their reason), 1 when `check` finds the notebook not ready or `export` refuses
(manual grading unfinished, points changed since grading), 2 with a one-line reason for usage,
configuration and asset errors.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

from alexnet_core import assets, selfcheck
from alexnet_core.errors import AssetError
from alexnet_core.profiles import PROFILE_ENV
from autograder.config import (
    BACKENDS,
    LoadedConfig,
    describe,
    for_master,
    load_config,
    select_profile,
    with_gradebook_url,
)
from autograder.course import CourseFolder
from autograder.errors import LabError
from autograder.urls import DEFAULT_PORT as FORMGRADER_PORT

# The grader's commands import their modules when they run: `pip install alexnet-lab` (the
# student's install) has `alexnet-lab check` and `assets` but not nbgrader, nbclient or jinja2,
# and `check` must answer a student in well under a second.


def _loaded(args) -> LoadedConfig:
    # The course folder's alexnet-lab.toml applies whether the course is --course or the current folder.
    loaded = load_config(args.config, args.course or Path.cwd())
    if getattr(args, "db", None):  # --db URL: this command's gradebook, over gradebook.url
        loaded = replace(loaded, config=with_gradebook_url(loaded.config, args.db, "--db", "--db"))
    return loaded


def _course(args, config) -> CourseFolder:
    return CourseFolder.locate(args.course, config.course)


def _told_profile(args) -> str | None:
    """The profile name the person at the keyboard chose: --profile, else $ALEXNET_LAB_PROFILE
    (read here only; each command resolves a name once, with `select_profile`, and passes the Profile)."""
    return args.profile or os.environ.get(PROFILE_ENV) or None


def _cmd_assets(args) -> int:
    if args.action == "status":
        for line in assets.status_lines():
            print(line)
    elif args.action == "fetch":
        for line in assets.fetch_all(force=args.force):
            print(line)
    else:  # synthetic
        from alexnet_core import synthetic  # numpy: not imported for the other commands (`check` included)

        # The config's profile: the cache must hold what the grader will call ready.
        profile = select_profile(_loaded(args).config, args.profile or "smoke")
        folder = synthetic.ensure_synthetic(profile)
        print(f"synthetic dataset ready: {folder}")
    return 0


def _cmd_release(args) -> int:
    from autograder.authoring.release import build_release
    from autograder.manual.rubric import read_rubrics

    config = _loaded(args).config
    course = _course(args, config)
    if course.master.is_file():  # a missing master is render's to report
        # The TAs' rubric is checked before anything is built: one line naming the cell and the fix.
        read_rubrics(course.master, for_master(config, course.master).points.questions)
    # The release's profile is --profile or the course default, never the shell's $ALEXNET_LAB_PROFILE:
    # what a release trains must not depend on the shell that built it.
    folder = build_release(course, config, select_profile(config, args.profile), variant=args.variant)
    print(f"release written: {folder}")
    return 0


def _cmd_reference(args) -> int:
    from autograder.authoring.reference import build_reference
    from autograder.authoring.release import grading_profile_name

    config = _loaded(args).config
    course = _course(args, config)
    # The profile told, else the released one (its settings may have just changed: the envelope
    # is rebuilt before the release is, so they are not compared here).
    name = _told_profile(args) or grading_profile_name(course, config, check_settings=False)
    path = build_reference(course, select_profile(config, name), seeds=args.seeds,
                           progress=lambda line: print(line, flush=True), jobs=args.jobs, log=args.log)
    print(f"reference envelope written: {path}")
    return 0


def _cmd_grade(args) -> int:
    from autograder.authoring.release import grading_profile_name
    from autograder.batch.coordinator import grade

    config = _loaded(args).config
    if args.cold:
        config = replace(config, runners=replace(config.runners, warm_start=False))
    course = _course(args, config)
    grade(
        inputs=[Path(p) for p in args.inputs],
        out=Path(args.out),
        course=course,
        config=config,
        profile=select_profile(config, grading_profile_name(course, config, _told_profile(args))),
        runners=args.runners,
        backend=args.backend,
        address=args.address,
        regrade=args.regrade,
        roster=Path(args.roster) if args.roster else None,
    )
    return 0


def _graded(args):
    """The config bound to the questions of the assignment OUT was graded with (its registered master)."""
    from autograder.course import OutputFolder

    config = _loaded(args).config
    source = OutputFolder(Path(args.out), config.course).nbgrader.source_notebook()
    return for_master(config, source) if source.is_file() else config


def _cmd_export(args) -> int:
    from autograder.export.final import ExportRefused, export

    config = _graded(args)
    try:
        summary = export(Path(args.out), config, allow_pending=args.allow_pending)
    except ExportRefused as exc:
        print(f"alexnet-lab export: {exc}", file=sys.stderr)
        return 1
    for line in summary.lines():
        print(line)
    return 0


def _cmd_gradescope(args) -> int:
    from autograder.export.gradescope import build_kit

    loaded = _loaded(args)
    profile = select_profile(loaded.config, _told_profile(args))
    path = build_kit(_course(args, loaded.config), loaded.config, profile, Path(args.out), loaded.source)
    print(f"Gradescope autograder written: {path} (profile {profile.name}); upload it as the assignment's autograder")
    return 0


def _cmd_formgrader(args) -> int:
    from autograder.export.formgrader import run_formgrader

    config = _graded(args)
    try:  # the course's master: the rubrics' items the grading page starts from (else OUT's copy of them)
        master = _course(args, config).master
    except LabError:
        master = None
    return run_formgrader(Path(args.out), config, port=args.port, ip=args.ip, open_browser=not args.no_browser,
                          config_source=_loaded(args).source, master=master)


def _cmd_groups(args) -> int:
    from autograder.manual import show

    groups = show.class_groups(Path(args.out), args.question, _graded(args))
    print(show.as_json(args.question, groups) if args.json else show.as_text(args.question, groups))
    return 0


def _cmd_check(args) -> int:
    # The notebook's own stamp decides (the student may have no course file); the settings fill
    # in what it lacks, and a course's own settings file also says which assignment it grades.
    loaded = _loaded(args)
    config = loaded.config
    expect = selfcheck.Expectations(assignment=config.course.assignment, questions=tuple(config.points.questions),
                                    min_answer_chars=config.points.min_answer_chars,
                                    default_profile=config.course.default_profile,
                                    submission_mb=config.limits.submission_mb,
                                    required_assignment=config.course.assignment if loaded.source else None)
    report = selfcheck.check_notebook(Path(args.notebook), expect)
    if hasattr(sys.stdout, "reconfigure"):  # a terminal that cannot show a character of the file's name
        sys.stdout.reconfigure(errors="backslashreplace")  # or keys gets it escaped, not the report lost
    print(report.text())
    return 0 if report.ready else 1


def _cmd_demo(args) -> int:
    from autograder.demo import run_demo

    config = _loaded(args).config
    course = _course(args, config)
    run_demo(Path(args.out), course, for_master(config, course.master))
    return 0


def _cmd_config(args) -> int:
    loaded = _loaded(args)
    print(loaded.describe_source())
    print("\n".join(describe(loaded.config)))
    return 0


DB_HELP = ("the gradebook's database for this command, over gradebook.url: postgresql://USER@HOST:5432/DATABASE "
           "(the password in PGPASSWORD or ~/.pgpass) or sqlite:////PATH.db; default: OUT/nbgrader/gradebook.db")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alexnet-lab", description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path, metavar="FILE",
                   help="TOML file of settings over grading_config.py's defaults (else $ALEXNET_LAB_CONFIG, "
                        "else COURSE/alexnet-lab.toml)")
    p.add_argument("--course", type=Path, metavar="DIR",
                   help="the course folder (source/<assignment>/ with the master); default: the current folder")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("assets", help="status, download or build the data the lab needs")
    a.add_argument("action", choices=["status", "fetch", "synthetic"])
    a.add_argument("--force", action="store_true", help="fetch: download again even if present")
    a.add_argument("--profile", help="synthetic: which synthetic profile to build (default smoke)")
    a.set_defaults(func=_cmd_assets)

    r = sub.add_parser("release", help="render the master and build the student release with nbgrader")
    r.add_argument("--variant", help="colab or local (default: course.default_variant); written to "
                                     "release/VARIANT/ASSIGNMENT/, so variants live side by side")
    r.add_argument("--profile", help="training profile baked into the release (default: course.default_profile); "
                                     "the notebook trains it wherever it runs, and `check` and `grade` follow it")
    r.set_defaults(func=_cmd_release)

    e = sub.add_parser("reference", help="train the master over several seeds; write the envelope")
    e.add_argument("--profile")
    e.add_argument("--seeds", type=int, help="number of seeds (default from the profile)")
    e.add_argument("--jobs", type=int, default=1,
                   help="worker processes of one torch thread each (default 1; one per free core for thousands of seeds)")
    e.add_argument("--log", type=Path, help="file of finished runs, one JSON line per seed: read first (its seeds are "
                                            "not trained again) and appended to, so a long build can be resumed")
    e.set_defaults(func=_cmd_reference)

    g = sub.add_parser("grade", help="grade submissions: notebooks, folders, submitted/ trees, LMS zips")
    g.add_argument("inputs", nargs="+", metavar="INPUT")
    g.add_argument("--profile", help="profile to re-run with (default: $ALEXNET_LAB_PROFILE, else the one the "
                                     "course's release trains, else course.default_profile)")
    g.add_argument("--runners", type=int, help="submissions at once (default: per GPU / CPU cores)")
    g.add_argument("--backend", choices=BACKENDS, help="runner pool (default: runners.backend)")
    g.add_argument("--address", help="Ray cluster address (with --backend ray)")
    g.add_argument("--out", default="grading", help="output folder (default ./grading)")
    g.add_argument("--regrade", action="store_true", help="grade again submissions already graded")
    g.add_argument("--roster", help="CSV with a student_id column; unknown ids are reported")
    g.add_argument("--cold", action="store_true", help="start every kernel from nothing (no warm start: "
                   "runners.warm_start off for this run)")
    g.add_argument("--db", metavar="URL", help=DB_HELP)
    g.set_defaults(func=_cmd_grade)

    x = sub.add_parser("export", help="final grades from the gradebook: final_grades.csv, Canvas/Brightspace/"
                                      "Moodle/Gradescope files, each student's final feedback.html")
    x.add_argument("out", metavar="OUT", help="the folder `grade --out` wrote (its gradebook is read)")
    x.add_argument("--allow-pending", action="store_true",
                   help="export although some answers still wait for a TA (their grades stay empty, marked pending)")
    x.add_argument("--db", metavar="URL", help=DB_HELP)
    x.set_defaults(func=_cmd_export)

    k = sub.add_parser("gradescope", help="the zip Gradescope takes as the assignment's autograder (setup.sh, "
                                          "run_autograder, this package, the course)")
    k.add_argument("--profile", help="profile it grades with (default: $ALEXNET_LAB_PROFILE, else course.default_profile)")
    k.add_argument("--out", default="gradescope_autograder.zip", help="the zip to write (default ./gradescope_autograder.zip)")
    k.set_defaults(func=_cmd_gradescope)

    f = sub.add_parser("formgrader", help="serve nbgrader's formgrader on OUT/nbgrader until interrupted")
    f.add_argument("out", metavar="OUT", help="the folder `grade --out` wrote")
    f.add_argument("--port", type=int, default=FORMGRADER_PORT,
                   help=f"port (default {FORMGRADER_PORT}: the question pages link there)")
    f.add_argument("--ip", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    f.add_argument("--no-browser", action="store_true", help="print the URL only; do not open a browser")
    f.add_argument("--db", metavar="URL", help=DB_HELP)
    f.set_defaults(func=_cmd_formgrader)

    n = sub.add_parser("groups", help="one question's answers in suggested groups (identical, near-identical, "
                                      "similar), read from OUT's results")
    n.add_argument("out", metavar="OUT", help="the folder `grade --out` wrote")
    n.add_argument("question", metavar="QUESTION", help="a question label, e.g. Q1")
    n.add_argument("--json", action="store_true", help='print {"question", "groups": [{"students", "answer", '
                                                       '"kind", "key"}]} instead of the text view')
    n.set_defaults(func=_cmd_groups)

    c = sub.add_parser("check", help="is my notebook ready to submit? (no execution)")
    c.add_argument("notebook")
    c.set_defaults(func=_cmd_check)

    d = sub.add_parser("demo", help="the whole story on the embedded defaults")
    d.add_argument("--out", default="demo-output")
    d.set_defaults(func=_cmd_demo)

    s = sub.add_parser("config", help="say which settings file was read; print every setting with its help")
    s.set_defaults(func=_cmd_config)
    return p


def _is_user_error(exc: BaseException) -> bool:
    """Errors the person at the keyboard can fix: shown as one line, exit 2."""
    return isinstance(exc, (LabError, ValueError, AssetError))


GRADER_PACKAGES = ("nbgrader", "nbclient", "nbconvert", "nbformat", "jinja2", "tqdm", "jupyter_client")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in GRADER_PACKAGES:
            raise
        # The student's install: `check` and `assets` work, the grader's commands need the extra.
        print(f"alexnet-lab {args.command}: needs the grader ({exc.name} is not installed): "
              "pip install 'alexnet-lab[grader]'", file=sys.stderr)
        return 2
    except Exception as exc:
        if not _is_user_error(exc):
            raise
        print(f"alexnet-lab {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"alexnet-lab {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
