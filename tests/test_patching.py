"""The patching machinery: registration, the firewall, revert, pickling, post-import hooks.

A tiny framework module written by the test ("toyframework") is patched by a test integration,
so every point of the firewall can be given a fault on purpose.
"""

from __future__ import annotations

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
from autolog.integrations.patching import Call, Patcher, Settings
from autolog.integrations.session import current, open_session

TOY = '''
class Model:
    """Fits a mean."""

    def fit(self, data, *, scale=1.0):
        """Fit to data."""
        if data == "explode":
            raise ValueError("bad data")
        self.mean_ = sum(data) / len(data) * scale
        return self


def train(data, rounds=3):
    """Train a model."""
    return Model().fit(data)
'''

FAULTS: dict[str, BaseException | None] = {}


def _fault(point: str) -> None:
    error = FAULTS.get(point)
    if error is not None:
        raise error


def _hook(call: Call) -> Generator[tuple[tuple[Any, ...], dict[str, Any]], Any, None]:
    _fault("before")
    if current() is not None:
        return  # nested: the model's fit called by train()
    session = open_session("toy", call.settings)
    try:
        result = yield call.args, call.kwargs
    except BaseException as error:
        session.close(error)
        raise
    try:
        _fault("after")
        session.client.log_metric(session.run_id, "mean", result.mean_)
        _fault("metrics")
    finally:
        session.close()


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
    assert _runs()[0].info.status is autolog.RunStatus.FAILED


def _interrupting_fit(toyframework: Any) -> None:
    class Interrupt(list):  # type: ignore[type-arg]
        def __len__(self) -> int:
            raise KeyboardInterrupt

    toyframework.Model().fit(Interrupt([1]))


def test_fault_in_the_store_does_not_break_training(
    toy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOLOG_STRICT", "0")
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the store's folder should be")
    autolog.set_tracking_uri(f"sqlite:///{blocker}/runs.db")
    autolog.autolog(integrations=["toy"])
    import toyframework

    with pytest.warns(autolog.AutologWarning):
        assert toyframework.Model().fit([3]).mean_ == 3.0
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
