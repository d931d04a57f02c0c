"""`alexnet-lab`: one subcommand per job; each calls one function in the module that owns it.

Exit codes: 0 when the job ran (grading exits 0 even when some submissions failed: they are
recorded with their reason), 1 when `check` finds the notebook not ready, 2 with a one-line
reason for usage, configuration and asset errors.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.errors import LabError


def _cmd_assets(args) -> int:
    from alexnet_core import assets

    if args.action == "status":
        for line in assets.status_lines():
            print(line)
    elif args.action == "fetch":
        for line in assets.fetch_all(force=args.force):
            print(line)
    else:  # synthetic
        from alexnet_core import synthetic
        from grading_config import active_profile

        folder = synthetic.ensure_synthetic(active_profile(args.profile or "smoke"))
        print(f"synthetic dataset ready: {folder}")
    return 0


def _cmd_release(args) -> int:
    from autograder.release import build_release

    folder = build_release(variant=args.variant, profile=args.profile)
    print(f"release written: {folder}")
    return 0


def _cmd_reference(args) -> int:
    from autograder.reference import build_reference

    path = build_reference(profile=args.profile, seeds=args.seeds)
    print(f"reference envelope written: {path}")
    return 0


def _cmd_grade(args) -> int:
    from autograder.grade import grade

    grade(
        inputs=[Path(p) for p in args.inputs],
        out=Path(args.out),
        profile=args.profile,
        runners=args.runners,
        backend=args.backend,
        address=args.address,
        regrade=args.regrade,
        roster=Path(args.roster) if args.roster else None,
    )
    return 0


def _cmd_check(args) -> int:
    from autograder.precheck import check_notebook

    report = check_notebook(Path(args.notebook))
    print(report.text())
    return 0 if report.ready else 1


def _cmd_demo(args) -> int:
    from autograder.demo import run_demo

    run_demo(out=Path(args.out))
    return 0


def _cmd_config(args) -> int:
    import grading_config

    print("\n".join(grading_config.describe()))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="alexnet-lab", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("assets", help="status, download or build the data the lab needs")
    a.add_argument("action", choices=["status", "fetch", "synthetic"])
    a.add_argument("--force", action="store_true", help="fetch: download again even if present")
    a.add_argument("--profile", help="synthetic: which synthetic profile to build (default smoke)")
    a.set_defaults(func=_cmd_assets)

    r = sub.add_parser("release", help="render the master and build the student release with nbgrader")
    r.add_argument("--variant", help="colab or local (default from grading_config)")
    r.add_argument("--profile", help="training profile baked into the release (default: full)")
    r.set_defaults(func=_cmd_release)

    e = sub.add_parser("reference", help="train the master over several seeds; write the envelope")
    e.add_argument("--profile")
    e.add_argument("--seeds", type=int, help="number of seeds (default from the profile)")
    e.set_defaults(func=_cmd_reference)

    g = sub.add_parser("grade", help="grade submissions: notebooks, folders, submitted/ trees, LMS zips")
    g.add_argument("inputs", nargs="+", metavar="INPUT")
    g.add_argument("--profile")
    g.add_argument("--runners", type=int, help="submissions at once (default: per GPU / CPU cores)")
    g.add_argument("--backend", choices=["local", "ray"], help="runner pool (default local)")
    g.add_argument("--address", help="Ray cluster address (with --backend ray)")
    g.add_argument("--out", default="grading", help="output folder (default ./grading)")
    g.add_argument("--regrade", action="store_true", help="grade again submissions already graded")
    g.add_argument("--roster", help="CSV with a student_id column; unknown ids are reported")
    g.set_defaults(func=_cmd_grade)

    c = sub.add_parser("check", help="is my notebook ready to submit? (no execution)")
    c.add_argument("notebook")
    c.set_defaults(func=_cmd_check)

    d = sub.add_parser("demo", help="the whole story on the embedded defaults")
    d.add_argument("--out", default="demo-output")
    d.set_defaults(func=_cmd_demo)

    s = sub.add_parser("config", help="print every setting of grading_config.py with its help")
    s.set_defaults(func=_cmd_config)
    return p


def _is_user_error(exc: BaseException) -> bool:
    """Errors the person at the keyboard can fix: shown as one line, exit 2."""
    # alexnet_core is looked up, not imported: importing it loads torch, and `alexnet-lab check`
    # must answer a student in a second. If it was never imported it raised nothing.
    core_errors = sys.modules.get("alexnet_core.errors")
    asset_error = (core_errors.AssetError,) if core_errors else ()
    return isinstance(exc, (LabError, ValueError) + asset_error)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
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
