"""The ``autolog`` command: the console script, ``python -m autolog``, and the root group."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import autolog

AUTOLOG = Path(sys.executable).with_name("autolog")


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_console_script_prints_the_version() -> None:
    done = _run(str(AUTOLOG), "--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"autolog, version {autolog.__version__}"


def test_python_dash_m_works_like_the_command() -> None:
    done = _run(sys.executable, "-m", "autolog", "--help")
    assert done.returncode == 0, done.stderr
    assert "Usage: autolog" in done.stdout
    assert "Examples:" in done.stdout


def test_unknown_command_is_a_usage_error() -> None:
    done = _run(sys.executable, "-m", "autolog", "no-such-command")
    assert done.returncode == 2
    assert "No such command 'no-such-command'" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_imports_no_subcommand_module(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from autolog.cli import COMMANDS, main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m, _ in COMMANDS.values() if m in sys.modules))\n"
    )
    done = _run(sys.executable, "-c", code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
