"""Fail when pyproject.toml asks for something the installed lock does not give.

bootstrap installs requirements/dev.txt and then the project with --no-deps, so a dependency
added to pyproject.toml without `make lock` would be missing (or too old) without this check.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def wanted() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lines = list(project.get("dependencies", []))
    for reqs in project.get("optional-dependencies", {}).values():
        lines += [r for r in reqs if not r.startswith(f"{project['name']}[")]
    return [Requirement(line) for line in lines]


def main() -> int:
    problems = []
    for req in wanted():
        if req.marker is not None and not req.marker.evaluate():
            continue
        try:
            have = version(req.name)
        except PackageNotFoundError:
            problems.append(f"{req} is not installed")
            continue
        if not req.specifier.contains(have, prereleases=True):
            problems.append(f"{req} but {have} is installed")
    for problem in problems:
        print(f"lock out of date: {problem}", file=sys.stderr)
    if problems:
        print("pyproject.toml changed after the lock: run `make lock`", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
