"""`import autolog` stays light, and the core works with no ML framework importable."""

from __future__ import annotations

from pathlib import Path

from support import run_script

HEAVY = (
    "sklearn",
    "torch",
    "lightgbm",
    "xgboost",
    "numpy",
    "pandas",
    "scipy",
    "psycopg",
    "sqlite3",
)


def test_import_loads_no_framework_and_no_backend(tmp_path: Path) -> None:
    done = run_script(
        f"""
        import sys
        import autolog
        heavy = [m for m in {HEAVY!r} if m in sys.modules]
        ours = sorted(m for m in sys.modules if m.startswith("autolog."))
        print(heavy)
        print(ours)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    heavy, ours = done.stdout.splitlines()
    assert heavy == "[]"
    for lazy in (
        "autolog.stores.sql",
        "autolog.stores.file",
        "autolog.models",
        "autolog.artifacts",
    ):
        assert f"'{lazy}'" not in ours


def test_the_core_works_with_frameworks_blocked(tmp_path: Path) -> None:
    done = run_script(
        """
        import sys
        import importlib.abc

        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("sklearn", "torch", "lightgbm", "xgboost", "numpy",
                                          "pandas", "scipy", "psycopg", "sqlalchemy"):
                    raise ImportError(f"blocked: {name}")
                return None

        sys.meta_path.insert(0, Block())
        import autolog

        with autolog.start_run() as run:
            autolog.log_params({"a": 1})
            autolog.log_metric("m", 0.5)
            autolog.log_model({"weights": [1, 2]})
        stored = autolog.get_run(run.info.run_id)
        assert stored.data.metrics == {"m": 0.5}, stored
        assert autolog.load_model(f"runs:/{run.info.run_id}/model") == {"weights": [1, 2]}
        print("ok")
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
