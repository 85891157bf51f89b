"""mypy over the package as it is installed, straight from the repository's folders.

setuptools installs ``integrations/`` as ``autolog.integrations`` (``package-dir`` in
pyproject.toml). mypy names a file after the folders it sits in and has no such mapping, and
it cannot see through the editable install (an import hook, which type checkers do not run).
So this gives mypy each file under the module name it is installed as, the one thing the
command line cannot say, and leaves the rest to mypy: options come from pyproject.toml and the
command line as for ``mypy``, errors name the files in the repository, the exit status is
mypy's.

    python tests/typecheck.py [mypy options]   # from the repository root; `make types`
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import tomllib
from mypy import util
from mypy.fscache import FileSystemCache
from mypy.main import process_options, run_build
from mypy.modulefinder import BuildSource

ROOT_PACKAGE = "autolog"


def installed_folders(pyproject: Path) -> dict[str, Path]:
    """Each package's folder as setuptools installs it: the root, then package-dir's entries."""
    config = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    package_dir: dict[str, str] = config["tool"]["setuptools"].get("package-dir", {})
    root = pyproject.parent
    return {ROOT_PACKAGE: root / ROOT_PACKAGE} | {
        name: root / folder for name, folder in package_dir.items()
    }


def sources(folders: dict[str, Path]) -> Iterator[BuildSource]:
    """Every module under each folder, named as it is imported once installed."""
    for package, folder in folders.items():
        for path in sorted(folder.rglob("*.py")):
            parts = path.relative_to(folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield BuildSource(str(path), ".".join((package, *parts)))


def main(argv: list[str]) -> int:
    """Type-check with mypy's options and mypy's output; returns mypy's exit status."""
    t0 = time.time()
    fscache = FileSystemCache()
    # The folder given here only satisfies the option parser: the sources are replaced below.
    _, options = process_options([*argv, ROOT_PACKAGE], fscache=fscache)
    found = list(sources(installed_folders(Path("pyproject.toml"))))
    _, messages, blockers = run_build(found, options, fscache, t0, sys.stdout, sys.stderr)
    formatter = util.FancyFormatter(sys.stdout, sys.stderr, options.hide_error_codes)
    n_errors, _, n_files = util.count_stats(messages)
    if n_errors or blockers:
        print(formatter.format_error(n_errors, n_files, len(found), blockers=blockers))
        return 2 if blockers else 1
    print(formatter.format_success(len(found)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
