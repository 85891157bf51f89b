"""The patching machinery: registration, the firewall, revert, pickling, post-import hooks.

A tiny framework module written by the test ("toyframework") is patched by a test integration,
so every point of the firewall can be given a fault on purpose.
"""

from __future__ import annotations

import contextlib
import pickle
import sys
import textwrap
import warnings
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

import autolog
from autolog.integrations import patching
from autolog.integrations.patching import (
    Call,
    CallbackFirewall,
    HookGenerator,
    Patcher,
    Settings,
    outermost,
)
from autolog.integrations.session import current, open_session, training_session

TOY = '''
import warnings


class Model:
    """Fits a mean."""

    def fit(self, data, *, scale=1.0):
        """Fit to data."""
        if data == "explode":
            raise ValueError("bad data")
        if scale < 0:
            warnings.warn("negative scale", UserWarning, stacklevel=2)  # at fit's caller
        self.mean_ = sum(data) / len(data) * scale
        return self


def train(data, rounds=3):
    """Train a model."""
    if rounds < 0:
        warnings.warn("negative rounds", UserWarning, stacklevel=2)  # at train's caller
    return Model().fit(data, scale=-1.0 if rounds < 0 else 1.0)


def score(data):
    """A function called many times a second."""
    if not data:
        warnings.warn("no data", UserWarning, stacklevel=2)
    return len(data)
'''

FAULTS: dict[str, BaseException | None] = {}


def _fault(point: str) -> None:
    error = FAULTS.get(point)
    if error is not None:
        raise error


def _hook(call: Call) -> HookGenerator:
    _fault("before")
    if not outermost(call):
        return  # nested: the model's fit called by train()
    with training_session(call) as session:
        _fault("opened")
        result = yield call.args, call.kwargs
        _fault("after")
        session.client.log_metric(session.run_id, "mean", result.mean_)
        _fault("metrics")


class ToyIntegration:
    name = "toy"
    framework = "toyframework"

    def make_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return options

    def patch(self, patcher: Patcher) -> None:
        import toyframework

        patcher.wrap(toyframework.Model, "fit", _hook)
        patcher.wrap(toyframework, "train", _hook)


@pytest.fixture
def toy(tmp_path: Path) -> Iterator[Any]:
    folder = tmp_path / "toy_pkg"
    folder.mkdir()
    (folder / "toyframework.py").write_text(textwrap.dedent(TOY))
    sys.path.insert(0, str(folder))
    patching.register(ToyIntegration(), replace=True)
    FAULTS.clear()
    try:
        yield folder
    finally:
        sys.path.remove(str(folder))
        sys.modules.pop("toyframework", None)
        patching.configure("toy", Settings(disable=True))
        patching._registry.pop("toy", None)


def _runs() -> list[autolog.Run]:
    return autolog.search_runs()


def test_patches_apply_before_or_after_the_import(toy: Path) -> None:
    autolog.autolog(integrations=["toy"])  # before: applied at import time
    import toyframework

    assert toyframework.Model().fit([1, 2, 3]).mean_ == 2.0
    assert len(_runs()) == 1
    autolog.autolog(integrations=["toy"], disable=True)
    sys.modules.pop("toyframework")
    import toyframework as again  # a fresh module object, imported while disabled

    autolog.autolog(integrations=["toy"])  # after: applied at once
    again.train([4, 6])
    assert len(_runs()) == 2


def test_disable_restores_the_exact_original_objects(toy: Path) -> None:
    import toyframework

    fit = vars(toyframework.Model)["fit"]
    train = toyframework.train
    autolog.autolog(integrations=["toy"])
    assert vars(toyframework.Model)["fit"] is not fit
    autolog.autolog(integrations=["toy"], log_models=False)  # reconfigure: still patched once
    patcher = patching.patcher_of("toy")
    assert patcher is not None
    assert len(patcher.patched) == 2
    autolog.autolog(integrations=["toy"], disable=True)
    assert vars(toyframework.Model)["fit"] is fit
    assert toyframework.train is train


def test_patched_functions_keep_their_face(toy: Path) -> None:
    import inspect

    import toyframework

    before = (inspect.signature(toyframework.train), toyframework.train.__doc__)
    method_before = inspect.signature(toyframework.Model.fit)
    autolog.autolog(integrations=["toy"])
    assert (inspect.signature(toyframework.train), toyframework.train.__doc__) == before
    assert inspect.signature(toyframework.Model.fit) == method_before
    assert toyframework.Model.fit.__doc__ == "Fit to data."
    assert toyframework.train.__name__ == "train"
    # module-level functions and bound methods pickle as they did unpatched
    assert pickle.loads(pickle.dumps(toyframework.train)) is toyframework.train
    model = toyframework.Model().fit([1.0])
    restored = pickle.loads(pickle.dumps(model.fit))
    assert restored.__self__.mean_ == 1.0
    assert pickle.loads(pickle.dumps(model)).mean_ == 1.0


def test_nested_calls_make_one_run(toy: Path) -> None:
    autolog.autolog(integrations=["toy"])
    import toyframework

    toyframework.train([1, 2])
    runs = _runs()
    assert len(runs) == 1
    assert runs[0].data.metrics == {"mean": 1.5}


@pytest.mark.parametrize("point", ["before", "after", "metrics"])
def test_faults_in_our_code_warn_once_and_training_goes_on(
    toy: Path, point: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    autolog.autolog(integrations=["toy"])
    import toyframework

    calls: list[int] = []
    original_fit = vars(toyframework.Model)["fit"].__wrapped__

    def counting(self: Any, data: Any, *, scale: float = 1.0) -> Any:
        calls.append(1)
        return original_fit(self, data, scale=scale)

    monkeypatch.setattr(vars(toyframework.Model)["fit"], "__wrapped__", counting)
    FAULTS[point] = KeyError("our bug")
    with pytest.warns(autolog.AutologWarning, match="our bug") as record:
        model = toyframework.Model().fit([2, 4], scale=2.0)
    assert model.mean_ == 6.0
    assert calls == [1]  # the original ran exactly once
    assert len(record) == 1
    # the run, if one was started, is ended, never left RUNNING
    assert all(r.info.status is autolog.RunStatus.FINISHED for r in _runs())


def test_silent_means_no_warning(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    autolog.autolog(integrations=["toy"], silent=True)
    import toyframework

    FAULTS["after"] = KeyError("quiet")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert toyframework.Model().fit([1]).mean_ == 1.0


def test_strict_mode_reraises_our_faults(toy: Path) -> None:
    autolog.autolog(integrations=["toy"])
    import toyframework

    FAULTS["after"] = KeyError("strict")
    with pytest.raises(KeyError, match="strict"):
        toyframework.Model().fit([1])


def test_user_exceptions_pass_through_unchanged_and_fail_the_run(toy: Path) -> None:
    autolog.autolog(integrations=["toy"])
    import toyframework

    with pytest.raises(ValueError, match="bad data") as caught:
        toyframework.Model().fit("explode")
    assert type(caught.value) is ValueError
    runs = _runs()
    assert [r.info.status for r in runs] == [autolog.RunStatus.FAILED]
    with pytest.raises(KeyboardInterrupt):
        FAULTS["before"] = None
        _interrupting_fit(toyframework)
    # Ctrl-C is an interrupt, not a failure: KILLED, under every integration (issue 17)
    assert _runs()[0].info.status is autolog.RunStatus.KILLED


def _interrupting_fit(toyframework: Any) -> None:
    class Interrupt(list):  # type: ignore[type-arg]
        def __len__(self) -> int:
            raise KeyboardInterrupt

    toyframework.Model().fit(Interrupt([1]))


@pytest.mark.slow
def test_fault_in_the_store_does_not_break_training(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's folder should be")
    autolog.set_tracking_uri(f"sqlite:///{blocker}/runs.db")
    autolog.autolog(integrations=["toy"])
    import toyframework

    with pytest.warns(autolog.AutologWarning, match="tracking store failed"):
        assert toyframework.Model().fit([3]).mean_ == 3.0
        # the store is opened, and fails, on the writer's thread: training never waited on it
        assert not autolog.Client(autolog.get_tracking_uri()).flush(timeout=2)
    autolog.set_tracking_uri(None)


def test_run_ownership_inside_a_user_run(toy: Path) -> None:
    autolog.autolog(integrations=["toy"])
    import toyframework

    with autolog.start_run() as user_run:
        toyframework.Model().fit([1])  # logs into the user's run
        toyframework.Model().fit([3])  # a nested child run: no collision
        assert autolog.active_run() == user_run  # never ended by us
    runs = {r.info.run_id: r for r in _runs()}
    assert runs[user_run.info.run_id].data.metrics == {"mean": 1.0}
    children = [r for r in runs.values() if r.info.parent_run_id == user_run.info.run_id]
    assert len(children) == 1
    assert children[0].data.metrics == {"mean": 3.0}
    assert runs[user_run.info.run_id].info.status is autolog.RunStatus.FINISHED


def test_exclusive_always_nests(toy: Path) -> None:
    autolog.autolog(integrations=["toy"], exclusive=True)
    import toyframework

    with autolog.start_run() as user_run:
        toyframework.Model().fit([1])
    runs = _runs()
    assert len(runs) == 2
    assert autolog.get_run(user_run.info.run_id).data.metrics == {}


def test_threads_train_independently(toy: Path) -> None:
    import threading

    autolog.autolog(integrations=["toy"])
    import toyframework

    threads = [threading.Thread(target=toyframework.train, args=([i, i + 2],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.data.metrics["mean"] for r in _runs()) == [1.0, 2.0, 3.0, 4.0]


class _NoName:
    framework = "x"

    def make_options(self, options: dict[str, Any]) -> None: ...

    def patch(self, patcher: Patcher) -> None: ...


def test_malformed_or_duplicate_integrations_fail_at_registration(toy: Path) -> None:
    with pytest.raises(autolog.IntegrationError, match="identifier"):
        patching.register(_NoName())  # type: ignore[arg-type]
    bad_framework = ToyIntegration()
    bad_framework.framework = "not a module"
    bad_framework.name = "toy2"
    with pytest.raises(autolog.IntegrationError, match="framework"):
        patching.register(bad_framework)
    with pytest.raises(autolog.IntegrationError, match="already registered"):
        patching.register(ToyIntegration())


def test_bad_autolog_options(toy: Path) -> None:
    with pytest.raises(autolog.InvalidInputError, match="'nope'"):
        autolog.autolog(integrations=["nope"])
    with pytest.raises(autolog.InvalidInputError, match="log_models"):
        autolog.autolog(log_models="yes")  # type: ignore[arg-type]
    with pytest.raises(autolog.InvalidInputError, match="list of names"):
        autolog.autolog(integrations="toy")
    with pytest.raises(autolog.InvalidInputError, match="dict of options"):
        autolog.autolog(integrations=["toy"], toy=3)  # type: ignore[arg-type]


def test_entry_point_integrations_are_registered(tmp_path: Path, toy: Path) -> None:
    from support import run_script

    dist = tmp_path / "site"
    (dist / "thirdparty_autolog").mkdir(parents=True)
    (dist / "thirdparty_autolog" / "__init__.py").write_text(
        textwrap.dedent(
            """
            class Third:
                name = "third"
                framework = "json"
                def make_options(self, options):
                    return options
                def patch(self, patcher):
                    import json
                    patcher.wrap(json, "dumps", hook)

            def hook(call):
                print("hooked", flush=True)
                result = yield call.args, call.kwargs

            INTEGRATION = Third()
            """
        )
    )
    info = dist / "thirdparty_autolog-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thirdparty-autolog\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[autolog.integrations]\nthird = thirdparty_autolog:INTEGRATION\n"
    )
    done = run_script(
        f"""
        import sys
        sys.path.insert(0, {str(dist)!r})
        import json, autolog
        autolog.autolog(integrations=["third"])
        print(json.dumps([1]))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["hooked", "[1]"]


def test_the_users_exception_is_untouched_by_our_failures(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import traceback

    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    autolog.autolog(integrations=["toy"])
    import toyframework

    FAULTS["before"] = KeyError("our bug")
    with (
        pytest.warns(autolog.AutologWarning),
        pytest.raises(ValueError, match="bad data") as caught,
    ):
        toyframework.Model().fit("explode")
    assert caught.value.__context__ is None  # our KeyError is not chained to it
    FAULTS.clear()
    with pytest.raises(ValueError, match="bad data") as caught:
        toyframework.Model().fit("explode")
    frames = {frame.name for frame in traceback.extract_tb(caught.value.__traceback__)}
    assert not frames & {"_hook", "_run_hook", "_finish"}


def test_a_hook_yielding_nonsense_still_trains(toy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")

    def bad_hook(call: Call) -> Generator[Any, Any, None]:
        yield 42  # not (args, kwargs)

    import toyframework

    patcher = Patcher("toy")
    monkeypatch.setitem(patching._settings, "toy", Settings())
    assert patcher.wrap(toyframework.Model, "fit", bad_hook)
    try:
        with pytest.warns(autolog.AutologWarning):
            assert toyframework.Model().fit([5]).mean_ == 5.0
    finally:
        patcher.revert()


def test_methods_taken_from_the_class_still_pickle(toy: Path) -> None:
    import toyframework

    autolog.autolog(integrations=["toy"])
    restored = pickle.loads(pickle.dumps(toyframework.Model.fit))
    assert restored(toyframework.Model(), [2.0]).mean_ == 2.0


# -- the contract: sessions, broken hooks, guards, the light path -------------------------------


def _raw_hook(call: Call) -> HookGenerator:
    """Opens its session by hand and fails before its try block: the firewall cleans up."""
    if not outermost(call):
        return
    session = open_session("toy", call.settings)
    _fault("opened")
    try:
        yield call.args, call.kwargs
    finally:
        session.close()


@pytest.mark.parametrize("style", ["training_session", "open_session by hand"])
def test_a_failure_between_open_session_and_yield_leaves_nothing_open(
    toy: Path, style: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    import toyframework

    if style == "training_session":
        autolog.autolog(integrations=["toy"])
    else:
        monkeypatch.setitem(patching._settings, "toy", Settings())
        patcher = Patcher("toy")
        patcher.wrap(toyframework.Model, "fit", _raw_hook)
    try:
        FAULTS["opened"] = KeyError("our bug after the run opened")
        with pytest.warns(autolog.AutologWarning, match="our bug") as record:
            assert toyframework.Model().fit([2]).mean_ == 2.0
        assert len(record) == 1
        assert current() is None
        assert autolog.active_run() is None
        [abandoned] = _runs()
        assert abandoned.info.status is autolog.RunStatus.FAILED  # recorded nothing of it
        FAULTS.clear()
        toyframework.Model().fit([4])  # the context is clean: a run of its own
        assert len(_runs()) == 2
        assert autolog.active_run() is None
    finally:
        if style != "training_session":
            patcher.revert()


def _swallowing_hook(call: Call) -> HookGenerator:
    with contextlib.suppress(ValueError):
        yield call.args, call.kwargs


def _twice_hook(call: Call) -> HookGenerator:
    yield call.args, call.kwargs
    yield call.args, call.kwargs


def _leaky_hook(call: Call) -> HookGenerator:
    open_session("toy", call.settings)  # never closed
    yield call.args, call.kwargs


BROKEN = {
    "swallows the training exception": (_swallowing_hook, "explode"),
    "yielded twice": (_twice_hook, [1.0]),
    "left its session open": (_leaky_hook, [1.0]),
}


@pytest.mark.parametrize("broken", BROKEN)
def test_broken_hooks_are_reported_with_their_file_and_line(
    toy: Path, broken: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toyframework

    hook, data = BROKEN[broken]
    monkeypatch.setitem(patching._settings, "toy", Settings())
    patcher = Patcher("toy")
    patcher.wrap(toyframework.Model, "fit", hook)
    message = broken.replace("swallows", "swallowed")
    where = f"{hook.__name__} at {__file__}:{hook.__code__.co_firstlineno}"
    try:
        with pytest.raises(autolog.IntegrationError, match=message) as caught:  # strict
            toyframework.Model().fit(data)
        assert where in str(caught.value)
        monkeypatch.setenv("AUTOLOG_STRICT", "0")
        with pytest.warns(autolog.AutologWarning, match=message):
            if data == "explode":
                with pytest.raises(ValueError, match="bad data"):  # unchanged, not swallowed
                    toyframework.Model().fit(data)
            else:
                assert toyframework.Model().fit(data).mean_ == 1.0
        assert current() is None
        assert autolog.active_run() is None  # the leaked session's run was ended
        assert all(r.info.status is not autolog.RunStatus.RUNNING for r in _runs())
    finally:
        patcher.revert()


def test_a_guard_reports_once_then_goes_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    calls: list[tuple[int, bool]] = []

    def callback(x: int) -> int:
        calls.append((x, patching.in_hook()))
        if x == 2:
            raise KeyError("callback bug")
        return x * 10

    guard = CallbackFirewall("toy", Settings())
    assert guard(callback, 1) == 10
    with pytest.warns(autolog.AutologWarning, match="callback bug") as record:
        assert guard(callback, 2) is None
        assert guard(callback, 3) is None  # quiet now: not called at all
    assert len(record) == 1
    assert calls == [(1, True), (2, True)]  # calls it makes to patched functions: not recorded
    assert guard.failed
    assert not patching.in_hook()
    silent = CallbackFirewall("toy", Settings(silent=True))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert silent(callback, 2) is None


def test_a_guard_raises_in_strict_mode_and_never_holds_an_interrupt() -> None:
    def broken() -> None:
        raise KeyError("strict")

    def interrupted() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyError, match="strict"):
        CallbackFirewall("toy", Settings())(broken)
    guard = CallbackFirewall("toy", Settings())
    with pytest.raises(KeyboardInterrupt):
        guard(interrupted)
    assert not guard.failed


def test_the_light_path_watches_without_touching(
    toy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import toyframework

    seen: list[tuple[Any, ...]] = []

    def before(instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        seen.append(("before", instance, args, kwargs, patching.in_hook()))
        return None if args[0] == [0.0] else "state"

    def after(state: str, result: Any, error: BaseException | None) -> None:
        seen.append(("after", state, getattr(result, "mean_", None), type(error).__name__))
        _fault("after")

    monkeypatch.setitem(patching._settings, "toy", Settings())
    patcher = Patcher("toy")
    assert patcher.observe(toyframework, "train", before, after)
    try:
        assert toyframework.train([2.0, 4.0], rounds=1).mean_ == 3.0
        with pytest.raises(ValueError, match="bad data") as caught:
            toyframework.train("explode")
        assert type(caught.value) is ValueError
        assert toyframework.train([0.0]).mean_ == 0.0  # declined by before: no after
        assert seen == [
            ("before", None, ([2.0, 4.0],), {"rounds": 1}, True),
            ("after", "state", 3.0, "NoneType"),
            ("before", None, ("explode",), {}, True),
            ("after", "state", None, "ValueError"),
            ("before", None, ([0.0],), {}, True),
        ]
        FAULTS["after"] = KeyError("observer bug")
        with pytest.raises(KeyError, match="observer bug"):  # strict
            toyframework.train([1.0])
        monkeypatch.setenv("AUTOLOG_STRICT", "0")
        with pytest.warns(autolog.AutologWarning, match="observer bug"):
            assert toyframework.train([1.0]).mean_ == 1.0
        with (
            pytest.warns(autolog.AutologWarning, match="observer bug"),
            pytest.raises(ValueError, match="bad data") as caught,
        ):
            toyframework.train("explode")
        assert caught.value.__context__ is None  # our failure is not chained to theirs
        seen.clear()
        monkeypatch.setitem(patching._settings, "toy", Settings(disable=True))
        assert toyframework.train([5.0]).mean_ == 5.0
        assert seen == []
    finally:
        patcher.revert()


def _warned(call: Any) -> list[tuple[str, int, str]]:
    """The warnings ``call()`` raises: (file name, line, message), in order."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return [(Path(w.filename).name, w.lineno, str(w.message)) for w in caught]


def test_a_frameworks_warnings_name_the_line_they_name_unpatched(toy: Path) -> None:
    """A warning the framework aims at the caller of a patched function (stacklevel=2) names
    that caller, not the wrapper between them: the user's line, or the framework's own for a
    nested patched call."""
    import toyframework

    def train() -> None:
        toyframework.train([1.0], rounds=-1)

    bare = _warned(train)
    here = train.__code__.co_firstlineno + 1
    lines = enumerate(TOY.splitlines(), start=1)
    fit_call = next(i for i, line in lines if "return Model().fit(" in line)
    assert bare == [
        ("test_patching.py", here, "negative rounds"),
        ("toyframework.py", fit_call, "negative scale"),  # train's line that called fit
    ]
    autolog.autolog(integrations=["toy"])
    assert _warned(train) == bare
    assert len(_runs()) == 1  # recorded all the same

    # through a replaced ``warnings.showwarning`` (logging.captureWarnings does that): the same
    shown: list[str] = []

    def show(message: Any, category: Any, filename: str, lineno: int, *rest: Any) -> None:
        shown.append(warnings.formatwarning(message, category, filename, lineno))

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        train()
    assert f"test_patching.py:{here}: UserWarning: negative rounds" in shown[0]
    assert "toyframework.py" in shown[1]


def test_warnings_through_the_light_path_and_after_disable(toy: Path) -> None:
    import toyframework

    def score() -> None:
        toyframework.score([])

    bare = _warned(score)
    assert bare == [("test_patching.py", score.__code__.co_firstlineno + 1, "no data")]
    original = warnings._showwarnmsg  # type: ignore[attr-defined]
    autolog.autolog(integrations=["toy"])
    patcher = Patcher("toy")
    assert patcher.observe(toyframework, "score", lambda instance, args, kwargs: "watched")
    try:
        assert _warned(score) == bare
    finally:
        patcher.revert()
    autolog.autolog(disable=True)
    assert warnings._showwarnmsg is original  # type: ignore[attr-defined]


@pytest.mark.slow
def test_post_import_hooks_are_registered_once_however_often_autolog_is_toggled(
    tmp_path: Path,
) -> None:
    from support import run_script

    done = run_script(
        """
        import wrapt.importer
        import autolog

        def hooks():
            return sum(len(waiting) for waiting in wrapt.importer._post_import_hooks.values())

        def toggle(times):
            for _ in range(times):
                autolog.autolog(disable=True)
                autolog.autolog(log_models=False)

        autolog.autolog(log_models=False)
        first = hooks()
        toggle(6)
        before_import = hooks()
        import sklearn  # the integration now waits for each sklearn module not imported yet

        after_import = hooks()
        toggle(6)
        toggled = hooks()
        import numpy as np
        from sklearn.linear_model import LogisticRegression

        LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), np.array([0, 0, 1, 1]))
        print(first, before_import, after_import, toggled, len(autolog.search_runs()))
        """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    first, before_import, after_import, toggled, runs = map(int, done.stdout.split())
    assert before_import == first
    assert after_import > 100  # one per sklearn module, not yet imported
    assert toggled == after_import
    assert runs == 1  # patched once, recorded once


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["C extension", "pure Python"])
def test_caller_detection_works_in_both_wrapt_modes(tmp_path: Path, mode: str) -> None:
    from support import run_script

    done = run_script(
        """
        import json, wrapt
        import numpy as np
        import autolog
        from autolog.integrations import patching
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import cross_val_score

        print("pure Python" if wrapt.FunctionWrapper.__module__ == "wrapt.wrappers" else "C")
        callers = []

        def hook(call):
            callers.append(call.caller)
            yield call.args, call.kwargs

        class Spy:
            name, framework = "spy", "json"
            def make_options(self, options):
                return options
            def patch(self, patcher):
                patcher.wrap(json, "dumps", hook)

        patching.register(Spy())
        autolog.autolog(integrations=["sklearn", "spy"], log_models=False)
        json.dumps([1])
        print(callers)
        X = np.random.default_rng(0).normal(size=(60, 3))
        y = (X[:, 0] > 0).astype(int)
        cross_val_score(LogisticRegression(), X, y, cv=3)  # folds fitted by sklearn: no run
        print(len(autolog.search_runs()))
        LogisticRegression().fit(X, y)  # the user's own fit
        print(len(autolog.search_runs()))
        """,
        tmp_path,
        env={"WRAPT_DISABLE_EXTENSIONS": "1"} if mode == "pure Python" else {},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "C" if mode == "C extension" else "pure Python",
        "['__main__']",
        "0",
        "1",
    ]


def test_builtin_integrations_are_entry_points_and_the_core_names_none() -> None:
    from importlib.metadata import entry_points

    integrations = {e.name: e for e in entry_points(group="autolog.integrations")}
    flavors = {e.name: e for e in entry_points(group="autolog.flavors")}
    assert {"sklearn", "torch", "lightgbm"} <= set(integrations)
    assert {"torch", "lightgbm"} <= set(flavors)
    for group in (integrations, flavors):
        for name, entry in group.items():
            assert entry.load().name == name
    core = Path(autolog.__file__).parent
    for path in core.rglob("*.py"):
        text = path.read_text()
        for name in integrations:
            for spelling in (f"integrations.{name}", f"integrations import {name}"):
                assert spelling not in text, f"{path} names the {name} integration"
