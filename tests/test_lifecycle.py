"""The process lifecycle (autolog.lifecycle), Client.close() and the shape of the core's imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import REPO, run_script

import autolog
from autolog import RunStatus, lifecycle
from autolog.errors import StoreError

CORE = REPO / "autolog"
# Parts of the package that sit on top of the core and may import anything in it.
NOT_CORE = ("cli", "server")


def _core_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted(CORE.rglob("*.py")):
        relative = path.relative_to(CORE).with_suffix("")
        if relative.parts[0] in NOT_CORE:
            continue
        parts = ("autolog", *relative.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The core modules ``path`` imports anywhere in it (lazy imports in functions included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def test_the_core_has_no_import_cycle() -> None:
    modules = _core_modules()
    # autolog/__init__.py is the public face: it imports everything, and nothing imports it.
    graph = {
        name: _imports(path, modules) - {"autolog"}
        for name, path in modules.items()
        if name != "autolog"
    }
    cycles = []

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append([*trail[trail.index(name) :], name])
            return
        for target in sorted(graph.get(name, ())):
            visit(target, [*trail, name])

    for name in graph:
        visit(name, [])
    assert not cycles, f"import cycles in the core: {cycles[:3]}"
    assert "autolog.runs" not in graph["autolog.client"]


def test_only_the_lifecycle_module_hooks_into_the_interpreter() -> None:
    hooks = ("atexit", "register_at_fork", "signal.signal", "multiprocessing.util")
    offenders = []
    for name, path in _core_modules().items():
        if name == "autolog.lifecycle":
            continue
        text = path.read_text()
        offenders += [f"{name}: {hook}" for hook in hooks if hook in text]
    assert not offenders


def test_the_store_helpers_are_shared_not_borrowed() -> None:
    # no store imports another store's private names
    for path in (CORE / "stores").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autolog."):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports {private} from {node.module}"


def test_nothing_imports_a_private_name_of_the_core() -> None:
    roots = [CORE, REPO / "integrations"]
    offenders = []
    for root in roots:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("autolog"):
                    module = node.module or ""
                    if module.startswith("autolog.integrations"):
                        continue  # integrations' own modules are the contract engineer's
                    offenders += [
                        f"{path.name}: {module}.{alias.name}"
                        for alias in node.names
                        if alias.name.startswith("_") and alias.name != "__version__"
                    ]
    assert not offenders


def test_a_client_is_a_context_manager_that_writes_out_on_close(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/c.db"
    with autolog.Client(uri) as client:
        run = client.create_run("e")
        for step in range(1000):
            client.log_metric(run.info.run_id, "m", float(step), step)
        client.set_terminated(run.info.run_id)
    with pytest.raises(StoreError, match="closed"):
        client.log_metric(run.info.run_id, "m", 1.0)
    with pytest.raises(StoreError, match="closed"):
        client.get_run(run.info.run_id)
    client.close()  # closing again does nothing
    # the store was closed with its last client; a new client opens it again
    with autolog.Client(uri) as reader:
        stored = reader.get_run(run.info.run_id)
        assert stored.info.status is RunStatus.FINISHED
        assert len(reader.get_metric_history(run.info.run_id, "m")) == 1000


def test_closing_one_client_leaves_the_store_open_for_the_others(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path}/c.db"
    first = autolog.Client(uri)
    second = autolog.Client(uri)
    run = first.create_run("e")
    first.log_param(run.info.run_id, "p", 1)
    first.close()
    second.log_metric(run.info.run_id, "m", 2.0)
    assert second.get_run(run.info.run_id).data.params == {"p": "1"}
    assert second.get_run(run.info.run_id).data.metrics == {"m": 2.0}
    second.close()


def test_shutdown_ends_open_runs_and_autolog_starts_afresh(tmp_path: Path) -> None:
    run = autolog.start_run()
    autolog.log_metric("m", 1.0)
    lifecycle.shutdown()
    assert autolog.active_run() is None
    assert autolog.last_active_run() is None
    stored = autolog.get_run(run.info.run_id)  # a new store, opened on demand
    assert stored.info.status is RunStatus.FINISHED
    assert stored.data.metrics == {"m": 1.0}


def test_hooks_run_by_layer_whatever_the_order_they_were_registered_in(tmp_path: Path) -> None:
    done = run_script(
        """
        import os, sys
        from autolog import lifecycle

        def hook(name):
            def record(*args):
                print(name, os.getpid() == parent, flush=True)
            return record

        parent = os.getpid()
        for layer in (lifecycle.Layer.STORE, lifecycle.Layer.RUNS, lifecycle.Layer.CLIENT):
            lifecycle.on_shutdown(layer, hook(f"exit-{layer.name}"))
            before, child = hook(f"before-{layer.name}"), hook(f"child-{layer.name}")
            lifecycle.on_fork(layer, before=before, after_in_child=child)
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")
    assert [line for line in lines if line.startswith("before")] == [
        "before-RUNS True",
        "before-CLIENT True",
        "before-STORE True",
    ]
    assert [line for line in lines if line.startswith("child")] == [
        "child-STORE False",
        "child-CLIENT False",
        "child-RUNS False",
    ]
    assert [line for line in lines if line.startswith("exit")] == [
        "exit-RUNS True",
        "exit-CLIENT True",
        "exit-STORE True",
    ]


@pytest.mark.slow
@pytest.mark.parametrize("parent_logs_first", [False, True])
def test_a_pool_worker_takes_sigterm_on_a_thread_and_pool_terminate_never_hangs(
    tmp_path: Path, parent_logs_first: bool
) -> None:
    # Pool.terminate signals a worker as it enters a blocking wait for the next task; a Python
    # handler there can miss the signal (the worker, and the pool, then hang). A worker takes
    # SIGTERM with sigwait on a thread of its own instead, and still writes what it logged.
    done = run_script(
        """
        import multiprocessing as mp, signal, threading
        import autolog

        def work(index):
            with autolog.start_run(run_name=f"task{index}"):
                autolog.log_metric("m", float(index))
            blocked = signal.SIGTERM in signal.pthread_sigmask(signal.SIG_BLOCK, [])
            names = [t.name for t in threading.enumerate()]
            return blocked, "autolog-sigterm" in names

        if __name__ == "__main__":
            if PARENT_LOGS_FIRST:  # the parent's own SIGTERM handler is inherited at the fork
                with autolog.start_run(run_name="parent"):
                    autolog.log_metric("m", 0.0)
            for _ in range(5):
                with mp.get_context("fork").Pool(2) as pool:
                    results = pool.map(work, range(4))
            print(all(b and t for b, t in results))
            print(len(autolog.search_runs()))
        """.replace("PARENT_LOGS_FIRST", str(parent_logs_first)),
        tmp_path,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", str(20 + parent_logs_first)]
