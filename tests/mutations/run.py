"""Apply each known mutation alone to a copy of the tree and show the suite catches it.

    python -m tests.mutations.run                 # every mutation
    python -m tests.mutations.run NAME [NAME ...] # some of them
    python -m tests.mutations.run --json out.json

The copy holds the files git would commit (tracked and untracked-but-not-ignored), so a run never
touches the working tree. First the named tests run on the unchanged copy and must pass (a test
that already fails proves nothing); then, per mutation, the `old` text is replaced (it must occur
exactly once) and the same tests must fail. The mutation score is caught / applied; the exit
status is 1 when any mutation survives or a baseline fails.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.mutations.catalogue import MUTATIONS, Mutation

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Verdict:
    name: str
    caught: bool
    seconds: float
    tests: tuple[str, ...]
    tail: str


def tree_files(root: Path) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=root,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (root / name).is_file()]


def copy_tree(root: Path, into: Path) -> None:
    for name in tree_files(root):
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target)


def run_tests(copy: Path, tests: tuple[str, ...]) -> tuple[int, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = f"{copy / 'src'}{os.pathsep}{copy}"
    command = [sys.executable, "-m", "pytest", "-n", "0", "-x", "-q", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*command, *tests], cwd=copy, env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, (done.stdout + done.stderr)[-1500:]


def apply(copy: Path, mutation: Mutation) -> str:
    """Apply `mutation` in `copy`; returns the original text to put back."""
    path = copy / mutation.path
    text = path.read_text()
    found = text.count(mutation.old)
    if found != 1:
        raise SystemExit(f"{mutation.name}: its text occurs {found} times in {mutation.path}")
    path.write_text(text.replace(mutation.old, mutation.new))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="mutations to apply (default: all)")
    parser.add_argument("--json", type=Path, help="write the verdicts here")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTATIONS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTATIONS}
    if unknown:
        parser.error(f"unknown mutations: {', '.join(sorted(unknown))}")
    verdicts: list[Verdict] = []
    with tempfile.TemporaryDirectory(prefix="heirloom-mutations-") as tmp:
        copy = Path(tmp)
        copy_tree(ROOT, copy)
        baseline = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        status, tail = run_tests(copy, baseline)
        if status != 0:
            print(f"the tests fail without any mutation:\n{tail}", file=sys.stderr)
            return 1
        for mutation in chosen:
            original = apply(copy, mutation)
            started = time.monotonic()
            try:
                status, tail = run_tests(copy, mutation.tests)
            finally:
                (copy / mutation.path).write_text(original)
            verdict = Verdict(
                mutation.name, status != 0, time.monotonic() - started, mutation.tests, tail
            )
            verdicts.append(verdict)
            word = "caught  " if verdict.caught else "SURVIVED"
            print(f"{word} {mutation.name:30} {verdict.seconds:6.1f} s  {mutation.why}")
            if not verdict.caught:
                print(f"         tests: {', '.join(mutation.tests)}")
    caught = sum(v.caught for v in verdicts)
    score = caught / len(verdicts) if verdicts else 1.0
    print(f"mutation score: {caught}/{len(verdicts)} = {score:.0%}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "score": score,
                    "caught": caught,
                    "applied": len(verdicts),
                    "mutations": [v.__dict__ for v in verdicts],
                },
                indent=2,
            )
        )
    return 0 if caught == len(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
