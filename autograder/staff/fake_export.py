"""A small fake Gradescope export built from the corpora: for the regrade self-test and the bench.

It has Gradescope's layout (``<top>/submission_metadata.yml`` and ``<top>/submission_<id>/``),
metadata written the way Gradescope's Ruby dump writes it (``:submitters:`` keys, quoted sids),
a group submission, and one folder the metadata does not list.
"""
import zipfile
from pathlib import Path

from ..corpus import adversarial, buggy
from ..harness.staging import GRADED

ROOT = Path(__file__).resolve().parents[2]
BUGS = ("kl_arguments_swapped", "output_mask_not_strict", "train_unweighted_batch_mean")
ATTACKS = ("fork_bomb", "forged_results_daemon")   # a hang that also floods the CPU; a results forger
TOP = "assignment_4242_export"


def _from_folder(folder):
    return {name: (folder / name).read_text() for name in GRADED}


def _attack_files(name, scratch):
    attack = next(a for a in adversarial.ATTACKS if a.name == name)
    folder = adversarial.write(attack, Path(scratch) / name)
    return {p.relative_to(folder).as_posix(): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def uploads(scratch):
    """``[(label, {relative path: source})]``: skeleton, solution, three buggy, two hostile uploads."""
    found = [("skeleton", _from_folder(ROOT / "submission")),
             ("solution", _from_folder(ROOT / "autograder" / "solution"))]
    found += [(name, buggy.render(next(b for b in buggy.BUGS if b.name == name))) for name in BUGS]
    found += [(name, _attack_files(name, scratch)) for name in ATTACKS]
    return found


MIXES = ("class", "honest", "buggy", "hostile")


def class_uploads(count, mix="class", scratch=None):
    """``count`` uploads, taken in turn from a pool: ``class`` (as a class hands them in: the
    solution, the skeleton and the buggy corpus, in turn), ``honest`` (the solution only),
    ``buggy`` (the buggy corpus) or ``hostile`` (the adversarial corpus; needs ``scratch``)."""
    solution = ("solution", _from_folder(ROOT / "autograder" / "solution"))
    bugs = [(bug.name, buggy.render(bug)) for bug in buggy.BUGS]
    if mix == "class":
        skeleton = ("skeleton", _from_folder(ROOT / "submission"))
        pool = [entry for i, bug in enumerate(bugs) for entry in (solution, skeleton, bug)]
    elif mix == "honest":
        pool = [solution]
    elif mix == "buggy":
        pool = bugs
    elif mix == "hostile":
        pool = [(a.name, _attack_files(a.name, scratch)) for a in adversarial.ATTACKS[:count]]
    else:
        raise ValueError(f"unknown mix {mix!r}: one of {', '.join(MIXES)}")
    return [(f"{pool[i % len(pool)][0]}-{i}", pool[i % len(pool)][1]) for i in range(count)]


def _metadata_entry(folder, submitters):
    lines = [f"{folder}:", "  :submitters:"]
    for name, sid in submitters:
        lines += [f"  - :name: {name}", f"    :sid: '{sid}'", f"    :email: s{sid}@example.edu"]
    lines += ["  :created_at: 2026-02-01 10:00:00.000000000 -08:00", "  :score: 0.0", "  :status: processed"]
    return lines


def write_export(dest, upload_list, first_id=7001, unlisted=1):
    """Write the export folder under ``dest``; return ``(top folder, {label: submission id})``.

    The first upload is a pair's group submission; the last ``unlisted`` uploads are left out of
    the metadata (Gradescope's file and its folders can disagree; those are graded without names).
    """
    top = Path(dest) / TOP
    top.mkdir(parents=True)
    ids, meta = {}, []
    for i, (label, files) in enumerate(upload_list):
        ident = str(first_id + i)
        ids[label] = ident
        for rel, text in files.items():
            path = top / f"submission_{ident}" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        people = [(f"Student {ident}", f"9{ident}")] + ([(f"Partner {ident}", f"8{ident}")] if i == 0 else [])
        if i < len(upload_list) - unlisted:
            meta += _metadata_entry(f"submission_{ident}", people)
    (top / "submission_metadata.yml").write_text("---\n" + "\n".join(meta) + "\n")
    return top, ids


def zip_export(top, zip_path, with_top=True):
    """Zip the export folder as Gradescope does (``with_top``) or with its contents at the root."""
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(Path(top).rglob("*")):
            rel = path.relative_to(top.parent if with_top else top).as_posix()
            if path.is_file():
                archive.write(path, rel)
    return zip_path


def main(argv=None):
    """``python -m autograder.staff.fake_export --out DIR``: a fake export to try regrade on."""
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(prog="python -m autograder.staff.fake_export", description=main.__doc__)
    parser.add_argument("--out", required=True, help="folder to write it into (must not exist)")
    parser.add_argument("--class-size", type=int, default=0,
                        help="that many uploads of the solution and buggy corpus instead of the default 7 "
                             "(skeleton, solution, 3 buggy, 2 hostile)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists():
        parser.error(f"{out} exists: give a new folder")
    with tempfile.TemporaryDirectory() as scratch:
        found = class_uploads(args.class_size) if args.class_size else uploads(scratch)
        top, ids = write_export(out, found)
    archive = zip_export(top, out / f"{TOP}.zip")
    print(f"wrote {archive} ({len(ids)} uploads: {', '.join(ids)}) and its unzipped folder {top}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
