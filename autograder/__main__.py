"""Command line: ``python -m autograder {grade,regrade,skeleton,fixtures,manifest,build,serve}``."""
import argparse
import sys


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m autograder", description="PS1 autograder")
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="grade a submission folder or .zip as Gradescope will")
    g.add_argument("submission", help="folder or .zip holding the student's files")
    g.add_argument("--results", default="results.json", help="where to write results.json")
    g.add_argument("--deadline", type=float, default=None, help="overall time budget in seconds")
    g.add_argument("--quiet", action="store_true", help="print no score table")
    g.add_argument("--plain-scratch", action="store_true",
                   help="plain scratch folders, never a tmpfs (what a machine that refuses mounts gets)")

    r = sub.add_parser("regrade", help="regrade a Gradescope export (zip or folder), N submissions at a time")
    r.add_argument("export", help="Gradescope's Export Submissions zip, or its unzipped folder")
    r.add_argument("--out", required=True, help="folder for scores.csv, tests.csv, results (re-use it to resume)")
    r.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    r.add_argument("--compare", metavar="OLD_SCORES.csv", default=None,
                   help="report what changed against an earlier run's scores.csv (also writes changes.csv)")
    r.add_argument("--names", action="store_true", help="print student names (by default only ids are printed)")
    r.add_argument("--one-by-one", action="store_true",
                   help="a grade process per submission instead of one warm grading server per job")

    s = sub.add_parser("skeleton", help="regenerate submission/ from autograder/solution/")
    s.add_argument("--check", action="store_true", help="only report whether submission/ is in sync")

    f = sub.add_parser("fixtures", help="regenerate the reference fixtures from the solution")
    f.add_argument("--check", action="store_true", help="only report whether the fixtures are in sync")

    m = sub.add_parser("manifest", help="write autograder/harness/tests_manifest.json from the suites' weights")
    m.add_argument("--check", action="store_true", help="only report whether it is in sync with the suites")

    b = sub.add_parser("build", help="build dist/autograder.zip or dist/handout.zip")
    b.add_argument("what", choices=["autograder", "handout"])
    b.add_argument("--out", default=None, help="output zip (default dist/<what>.zip)")

    sub.add_parser("serve", help="(regrade's and the self-tests') grade many uploads with one warm service: "
                                 "JSON requests on stdin, see autograder/harness/service.py")
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "grade":
        from .harness.grade import grade_command

        return grade_command(args.submission, args.results, deadline=args.deadline, quiet=args.quiet,
                             plain_scratch=args.plain_scratch)
    if args.command == "serve":
        from .harness.service import serve_main

        return serve_main(parser.parse_args)
    if args.command == "regrade":
        from .regrade import main as regrade_main

        return regrade_main(args)
    if args.command in ("skeleton", "fixtures"):
        import importlib

        generated = importlib.import_module(f"autograder.{args.command}")
        label = "submission/" if args.command == "skeleton" else "the fixtures"
        if args.check:
            stale = generated.differences()
            print(f"{label} in sync with the solution" if not stale else
                  f"{label} out of sync: {', '.join(stale)} (run `python -m autograder {args.command}`)")
            return 1 if stale else 0
        stale = generated.differences()
        written = generated.write()
        print(f"{label}: already in sync with the solution, nothing changed" if not stale
              else f"wrote {', '.join(written)}; changed: {', '.join(stale)}")
        return 0
    if args.command == "manifest":
        from .manifest import main as manifest_main

        return manifest_main(check=args.check)
    if args.command == "build":
        from .package import BuildError, build

        packed = []
        try:
            out = build(args.what, args.out, listing=packed)
        except BuildError as exc:
            print(f"build {args.what}: refused: {exc}", file=sys.stderr)
            return 1
        print(f"wrote {out} ({len(packed)} files):")
        for name in packed:
            print(f"  {name}")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
