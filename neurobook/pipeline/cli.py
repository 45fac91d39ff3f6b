"""The ``neurobook`` command: run chapters, build the book, manage data.

    neurobook run CHAPTER [-p NAME VALUE ...] [--profile quick|full] [--force] [--output-dir DIR]
    neurobook params CHAPTER
    neurobook student [CHAPTER ... | all] [-o DIR] [--teacher]
    neurobook build [--profile quick|full] [-p NAME VALUE ...] [--force]
    neurobook sweep CHAPTER -p NAME v1,v2,... [-p NAME ...] [--profile P] [--scheduler ADDRESS] [--workers N]
    neurobook sweep [CHAPTER [-p ...]] --status
    neurobook data list | fetch NAME | verify [NAME ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neurobook.pipeline.params import ParameterError, parse_value


def _parameters(args: argparse.Namespace) -> dict:
    values = {name: parse_value(value) for name, value in (args.parameter or [])}
    if args.profile:
        values["profile"] = args.profile
    return values


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"),
                   help="set a chapter parameter (repeatable); values are parsed as JSON/Python literals")
    p.add_argument("--profile", choices=["quick", "full"], help="shorthand for -p profile VALUE")
    p.add_argument("--force", action="store_true", help="execute even if nothing changed")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neurobook", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute one chapter with papermill")
    run.add_argument("chapter", help="chapter slug or number, e.g. ch01_v1_encoding or 1")
    _add_run_options(run)
    run.add_argument("--output-dir", help="where the executed notebook and results go (default book/_generated)")
    run.set_defaults(handler=_run)
    params = sub.add_parser("params", help="list a chapter's parameters")
    params.add_argument("chapter")
    params.set_defaults(handler=_params)
    build = sub.add_parser("build", help="execute every chapter (cached) and render the book")
    _add_run_options(build)
    build.set_defaults(handler=_build)
    student = sub.add_parser("student", help="write student notebooks: the exercises without their solutions")
    student.add_argument("chapters", nargs="*", default=["all"],
                         help="chapter slugs or numbers (default: all written chapters)")
    student.add_argument("-o", "--output-dir", help="folder for <chapter>.ipynb (default book/_generated/student)")
    student.add_argument("--teacher", action="store_true",
                         help="also write <chapter>.teacher.ipynb: solutions kept, nbgrader metadata added")
    student.set_defaults(handler=_student)
    sweep = sub.add_parser("sweep", help="run a chapter over a grid of parameters on Dask (one task per point)")
    sweep.add_argument("chapter", nargs="?", help="chapter slug or number (optional with --status)")
    sweep.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUES"),
                       help="a parameter and its values separated by commas (repeatable); the grid is the "
                            "Cartesian product; one value fixes the parameter for every point")
    sweep.add_argument("--profile", choices=["quick", "full"], help="shorthand for -p profile VALUE")
    sweep.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786 "
                                           "(default: a LocalCluster on this machine)")
    sweep.add_argument("--workers", type=int, help="worker processes of the LocalCluster (default: cores/threads)")
    sweep.add_argument("--threads", type=int, help="torch threads per point (default: the chapter's, 1)")
    sweep.add_argument("--status", action="store_true", help="show done / running / failed per point; run nothing")
    sweep.add_argument("--force", action="store_true", help="execute every point even if nothing changed")
    sweep.add_argument("--output-dir", help="folder of the sweeps (default book/_generated/sweeps)")
    sweep.set_defaults(handler=_sweep)
    data = sub.add_parser("data", help="list, download or verify data sets; build the Allen population files",
                          epilog="neurobook data allen natural_scenes --sessions 10: download (allensdk, cached, "
                                 "resumable) and write the population file that Chapter 3 decodes")
    data.add_argument("action", choices=["list", "fetch", "verify", "allen"])
    data.add_argument("names", nargs="*", help="data sets; for 'allen' the stimuli (natural_scenes, static_gratings)")
    data.add_argument("--sessions", type=int, default=10, help="for 'allen': sessions (mice) to build (default 10)")
    data.set_defaults(handler=_data)
    return parser


def _run(args: argparse.Namespace) -> int:
    from neurobook.data.paths import describe_data_dir
    from neurobook.pipeline.run import run_chapter

    values = _parameters(args)
    print(f"[neurobook] {describe_data_dir(values.get('data_dir'))}", flush=True)
    extra = {"output_dir": Path(args.output_dir)} if args.output_dir else {}
    print(run_chapter(args.chapter, values, force=args.force, **extra))
    return 0


def _params(args: argparse.Namespace) -> int:
    from neurobook.pipeline.chapters import get_chapter
    from neurobook.pipeline.params import describe, notebook_parameters

    print(describe(notebook_parameters(get_chapter(args.chapter).source)))
    return 0


def _student(args: argparse.Namespace) -> int:
    from neurobook.pipeline.student import STUDENT_DIR, CourseFormatError, write_student_notebooks

    out = Path(args.output_dir) if args.output_dir else STUDENT_DIR
    try:
        if not write_student_notebooks(args.chapters, out, teacher=args.teacher):
            print("neurobook: no chapter with exercises among those named", file=sys.stderr)
    except CourseFormatError as err:
        print(f"neurobook: error: {err}", file=sys.stderr)
        return 1
    return 0


def _build(args: argparse.Namespace) -> int:
    from neurobook.pipeline.build import build_book

    build_book(_parameters(args), force=args.force)
    return 0


def _data(args: argparse.Namespace) -> int:
    from neurobook.data import verify
    from neurobook.data.loaders import fetch_dataset
    from neurobook.data.registry import DATASETS

    if args.action == "list":
        for d in DATASETS.values():
            print(f"{d.name}\n    {d.title}\n    license: {d.license}\n    source: {d.source.homepage}")
        return 0
    if args.action == "allen":
        return _allen(args.names, args.sessions)
    if args.action == "fetch":
        if not args.names:
            raise SystemExit("neurobook data fetch NAME [NAME ...]: name the data sets (see `neurobook data list`)")
        for name in args.names:
            print(f"{name}: {fetch_dataset(name)}")
        return 0
    bad = 0
    for name in args.names or list(DATASETS):
        status = verify(name)
        problems = {k: v for k, v in status.items() if v != "ok"}
        print(f"{name}: {len(status) - len(problems)}/{len(status)} files ok")
        for rel, what in problems.items():
            print(f"    {rel}: {what}")
        bad += bool(problems)
    return 1 if bad else 0


def _allen(stimuli: list[str], n_sessions: int) -> int:
    from neurobook.data.allen_population import PAPER_STIMULI, build_allen_population

    unknown = [s for s in stimuli if s not in PAPER_STIMULI]
    if not stimuli or unknown:
        raise SystemExit(f"neurobook data allen STIMULUS [...] --sessions N: the stimuli are {list(PAPER_STIMULI)}"
                         + (f"; unknown {unknown}" if unknown else ""))
    for stimulus in stimuli:
        print(f"{stimulus}: {build_allen_population(stimulus, n_sessions=n_sessions)}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from neurobook.pipeline import sweep as sw

    root = Path(args.output_dir) if args.output_dir else sw.SWEEPS_DIR
    pairs = [tuple(p) for p in (args.parameter or [])] + ([("profile", args.profile)] if args.profile else [])
    if args.status and not pairs:
        found = sw.list_sweeps(root, args.chapter)
        if not found:
            print(f"no sweeps in {root}" + (f" for {args.chapter}" if args.chapter else ""))
        for s in found:
            print(sw.status_text(s))
        return 0
    if not args.chapter:
        raise ParameterError("name the chapter: neurobook sweep CHAPTER -p NAME v1,v2,... (or --status alone)")
    grid, fixed = sw.parse_grid(pairs)
    if not grid and not args.status:
        raise ParameterError("a sweep needs at least one parameter with several values: -p NAME v1,v2,...")
    plan = sw.plan(args.chapter, grid, fixed, output_dir=root, remote=bool(args.scheduler))
    if args.status:
        if not (plan.directory / sw.SPEC_NAME).exists():
            print(f"this sweep has not run yet ({plan.directory})")
            return 0
        print(sw.status_text(plan))
        return 0
    rows = sw.run_sweep(plan, scheduler=args.scheduler, workers=args.workers, threads=args.threads,
                        force=args.force)
    if root == sw.SWEEPS_DIR:
        from neurobook.pipeline.sweep_page import write_sweep_page

        write_sweep_page()
    return 0 if all(r["status"] == "done" for r in rows) else 1


def _report(err: Exception) -> int | None:
    """The exit code and one-line message for an error a user can act on; None for a bug (re-raised)."""
    from neurobook.data.fetch import ChecksumError, DataNotFoundError
    from neurobook.data.paths import DataDirError
    from neurobook.pipeline.run import BuildLocked, ChapterFailed, ChapterInterrupted

    if isinstance(err, ChapterInterrupted):
        print(f"neurobook: {err}", file=sys.stderr)
        return 130
    if isinstance(err, ChapterFailed | ChecksumError | DataNotFoundError | DataDirError | BuildLocked):
        print(f"neurobook: error: {err}", file=sys.stderr)
        return 1
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (ParameterError, KeyError) as err:
        print(f"neurobook: error: {err.args[0] if err.args else err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neurobook: interrupted; finished chapters and the previous outputs are kept", file=sys.stderr)
        return 130
    except Exception as err:
        code = _report(err)
        if code is None:
            raise
        return code


if __name__ == "__main__":
    sys.exit(main())
