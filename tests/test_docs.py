"""The documentation's examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from support import REPO, run_script

# A block to run is announced by an HTML comment naming the file it is: <!-- file: name -->
_FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", re.DOTALL)


def _files(page: Path) -> dict[str, str]:
    return dict(_FILE_BLOCK.findall(page.read_text()))


def test_writing_an_integration_works_as_written(tmp_path: Path) -> None:
    tomllib = pytest.importorskip("tomllib")
    files = _files(REPO / "docs" / "integrations.md")
    assert set(files) == {"tinyfit.py", "tinyfit_autolog.py", "pyproject.toml", "train.py"}
    site = tmp_path / "site"
    site.mkdir()
    for name in ("tinyfit.py", "tinyfit_autolog.py"):
        (site / name).write_text(files[name])
    # what installing the page's pyproject.toml would write: the package's entry points
    declared = tomllib.loads(files["pyproject.toml"])["project"]["entry-points"]
    info = site / "tinyfit_autolog-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinyfit-autolog\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
            for group, entries in declared.items()
        )
    )
    done = run_script(
        f"import sys\nsys.path.insert(0, {str(site)!r})\n" + files["train.py"], tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("recorded ")
    assert done.stderr == ""
