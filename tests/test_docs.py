"""The documentation's examples run as written.

docs/integrations.md announces each file of its walk-through with an HTML comment
(``<!-- file: name -->``). In README.md every Python block runs as it is, in a fresh interpreter
in an empty folder, and a line that ends in a value (``expression  # {'loss': 0.1}``) is checked
to give it; every shell block is valid bash, and every ``autolog`` command in one is a command
with options the command line takes.
"""

from __future__ import annotations

import ast
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from support import REPO, run_script

# A block to run is announced by an HTML comment naming the file it is: <!-- file: name -->
_FILE_BLOCK = re.compile(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", re.DOTALL)
_BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.DOTALL | re.MULTILINE)
README = REPO / "README.md"


def _files(page: Path) -> dict[str, str]:
    return dict(_FILE_BLOCK.findall(page.read_text()))


def _blocks(language: str) -> list[str]:
    return [code for lang, code in _BLOCK.findall(README.read_text()) if lang == language]


def _claimed(comment: str) -> tuple[bool, object]:
    """The value a comment states (``{'loss': 0.1}``, ``True (checked first)``), if it is one."""
    for text in (comment, comment.split(" (", 1)[0]):
        try:
            return True, ast.literal_eval(text)
        except (ValueError, SyntaxError):
            continue
    return False, None


def with_claims_checked(code: str) -> tuple[str, int]:
    """``code`` with each ``expression  # value`` line made an assertion; how many there were."""
    lines, claims = [], 0
    for line in code.splitlines():
        expression, sep, comment = line.partition("  # ")
        is_value, value = _claimed(comment.strip()) if sep else (False, None)
        try:
            ast.parse(expression, mode="eval")
        except SyntaxError:
            is_value = False
        if is_value and not line.startswith((" ", "\t")):
            lines.append(f"assert ({expression}) == {value!r}, {line!r}")
            claims += 1
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", claims


def _commands(block: str) -> list[list[str]]:
    """The ``autolog ...`` commands of a shell block, as argument lists (continuations joined,
    comments dropped, ``&&`` splitting one line into two)."""
    joined = re.sub(r"\\\n\s*", " ", block)
    found = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            if words[0] == "autolog":
                found.append(words[1:cut])
            words = words[cut + 1 :]
    return found


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


@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(_blocks("python"))))
def test_every_python_block_of_the_readme_runs_as_written(index: int, tmp_path: Path) -> None:
    code, claims = with_claims_checked(_blocks("python")[index])
    for module in ("sklearn",):
        if f"from {module}" in code:
            pytest.importorskip(module)
    done = run_script(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert claims >= 1  # each block shows what it gives: the lines that say so are checked


def test_the_readme_has_blocks_that_say_what_they_give() -> None:
    blocks = _blocks("python")
    assert len(blocks) >= 2
    assert sum(with_claims_checked(block)[1] for block in blocks) >= 4
    # the check itself: a line with a value becomes an assertion, other comments stay
    checked, claims = with_claims_checked("x = 1  # one\nx + 1  # 2\nprint(x)  # prints\n")
    assert claims == 1
    assert "assert (x + 1) == 2" in checked
    assert "x = 1  # one" in checked


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_every_shell_block_of_the_readme_is_valid_bash() -> None:
    blocks = _blocks("sh")
    assert len(blocks) >= 5
    for block in blocks:
        done = subprocess.run(
            ["bash", "-n"], input=block, capture_output=True, text=True, timeout=30, check=False
        )
        assert done.returncode == 0, f"{done.stderr}\n{block}"


def test_every_autolog_command_in_the_readme_is_one_the_cli_takes() -> None:
    """Its subcommands and options exist (``--help`` at the end: parsed, never run)."""
    testing = pytest.importorskip("click.testing")
    from autolog.cli._group import root

    commands = [c for block in _blocks("sh") for c in _commands(block)]
    assert len(commands) >= 15
    runner = testing.CliRunner()
    for args in commands:
        # `autolog run SCRIPT ARGS`: what follows the script is the script's
        checked = args[:1] if args[:1] == ["run"] else args
        result = runner.invoke(root, [*checked, "--help"], prog_name="autolog")
        assert result.exit_code == 0, f"autolog {shlex.join(args)}: {result.output}"
        assert result.output.startswith("Usage: autolog"), result.output
