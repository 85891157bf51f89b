"""Training in worker processes: recorded in the run of the process that started them.

Worker processes need a real ``__main__`` file (spawn and forkserver import it again in the
child), so most tests run a script in a fresh interpreter: 2 workers, a tiny model, 2 epochs.
Each worker sends its per-epoch mean loss to the parent through a queue; the parent prints what
the test compares with what was recorded.
"""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest
from support import run_script

import autolog
from autolog import RunStatus

torch = pytest.importorskip(
    "torch", reason="worker processes are recorded by the torch integration"
)

WORKER = """
import json, sys
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
import autolog


def train(rank, model, queue, lr=0.05):
    torch.manual_seed(rank)
    X = torch.randn(64, 4)
    y = X.sum(dim=1, keepdim=True)
    loader = DataLoader(TensorDataset(X, y), batch_size=16, shuffle=True)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    for epoch in range(2):
        losses = []
        for xb, yb in loader:
            optimizer.zero_grad()
            loss = F.mse_loss(model(xb), yb)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        torch.save(model.state_dict(), f"worker{rank}.pt")  # a checkpoint each epoch
        queue.put([rank, epoch, sum(losses) / len(losses)])


def shared_model():
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    model.share_memory()
    return model


def report(queue, **extra):
    losses = {}
    while not queue.empty():  # the workers were joined: whatever they sent is here
        rank, epoch, loss = queue.get()
        losses.setdefault(str(rank), {})[str(epoch)] = loss
    print(json.dumps({"losses": losses, **extra}))
"""


def recorded(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in autolog.get_metric_history(run_id, key)]


def run_ok(code: str, cwd: Path, *args: str) -> dict[str, Any]:
    done = run_script(code, cwd, env={"AUTOLOG_STRICT": "1"}, args=list(args))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "autolog" not in done.stderr, done.stderr  # no warning, nothing unwritten
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def assert_worker_series(run_id: str, losses: dict[str, dict[str, float]]) -> None:
    assert sorted(losses) == ["0", "1"]
    for rank, by_epoch in losses.items():
        series = recorded(run_id, f"training_loss/worker_{rank}")
        assert [step for step, _ in series] == [0, 1]
        for (_, value), epoch in zip(series, ("0", "1"), strict=True):
            assert value == pytest.approx(by_epoch[epoch], rel=1e-6, abs=1e-9)
        steps = recorded(run_id, f"optimizer_steps/worker_{rank}")
        assert [value for _, value in steps] == [4.0, 4.0]


@pytest.mark.slow
@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_workers_log_a_series_each_into_the_run_opened_for_them(
    tmp_path: Path, method: str
) -> None:
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    code = (
        WORKER
        + """
if __name__ == "__main__":
    autolog.autolog()
    context = mp.get_context(sys.argv[1])
    model = shared_model()
    queue = context.SimpleQueue()
    workers = [context.Process(target=train, args=(rank, model, queue)) for rank in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert autolog.active_run() is None  # the run opened for the workers ended with them
    report(queue, run_id=autolog.last_active_run().info.run_id,
           exitcodes=[w.exitcode for w in workers], weight=model.weight.tolist())
"""
    )
    result = run_ok(code, tmp_path, method)
    assert result["exitcodes"] == [0, 0]
    (run,) = autolog.search_runs()
    assert run.info.run_id == result["run_id"]
    assert run.info.status is RunStatus.FINISHED
    assert_worker_series(run.info.run_id, result["losses"])
    assert "training_loss" not in run.data.metrics  # never merged
    assert run.data.params["optimizer"] == "SGD"
    assert run.data.params["lr"] == "0.05"
    assert "autolog.workers" in run.data.tags
    folders = [info.path for info in autolog.list_artifacts(run.info.run_id, "checkpoints")]
    assert folders == ["checkpoints/worker_0", "checkpoints/worker_1"]
    # the shared model, logged once by the parent when the workers were done
    model = autolog.load_model(f"runs:/{run.info.run_id}/model")
    assert model.weight.tolist() == result["weight"]  # type: ignore[attr-defined]


@pytest.mark.slow
def test_torch_multiprocessing_spawn_logs_into_the_users_run(tmp_path: Path) -> None:
    code = (
        WORKER
        + """
def ranked(rank, model, queue):
    train(rank, model, queue, lr=0.05 * (rank + 1))  # a setting that differs by worker


if __name__ == "__main__":
    autolog.autolog()
    model = shared_model()
    queue = mp.get_context("spawn").SimpleQueue()
    with autolog.start_run(run_name="mine") as run:
        autolog.log_param("note", "hogwild")
        mp.spawn(ranked, args=(model, queue), nprocs=2)
        assert autolog.active_run().info.run_id == run.info.run_id
    report(queue, run_id=run.info.run_id)
"""
    )
    result = run_ok(code, tmp_path)
    (run,) = autolog.search_runs()
    assert run.info.run_id == result["run_id"]
    assert run.info.run_name == "mine"
    assert run.info.status is RunStatus.FINISHED  # ended by its owner, not by a worker
    assert_worker_series(run.info.run_id, result["losses"])
    params = run.data.params
    assert params["note"] == "hogwild"
    # worker 0's lr is the run's; worker 1's differs and is logged under its own name, its
    # other params (equal to worker 0's) are not repeated
    assert params["lr"] == "0.05"
    assert params["lr/worker_1"] == "0.1"
    assert not [key for key in params if key.endswith("/worker_1") and key != "lr/worker_1"]
    assert "lr/worker_0" not in params
    assert run.data.tags["autolog.workers.params.worker_1"].startswith("lr: ")
    # a user's run: the shared model is theirs to log
    assert [info.path for info in autolog.list_artifacts(run.info.run_id)] == ["checkpoints"]


@pytest.mark.slow
def test_pools_and_dataloader_workers_record_nothing_of_their_own(tmp_path: Path) -> None:
    code = (
        WORKER
        + """
def square(x):
    return x * x


def squares_of(queue):
    for x in range(4):
        queue.put(square(x))


if __name__ == "__main__":
    autolog.autolog()
    context = mp.get_context("spawn")
    with context.Pool(2) as pool:
        squares = pool.map(square, range(4))
    queue = context.SimpleQueue()
    worker = context.Process(target=squares_of, args=(queue,))  # a process that trains nothing
    worker.start()
    worker.join()
    assert [queue.get() for _ in range(4)] == squares
    assert autolog.active_run() is None
    model = shared_model()
    X = torch.randn(32, 4)
    loader = DataLoader(TensorDataset(X, X.sum(dim=1, keepdim=True)), batch_size=16,
                        num_workers=2, multiprocessing_context=context)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for xb, yb in loader:
        optimizer.zero_grad()
        F.mse_loss(model(xb), yb).backward()
        optimizer.step()
    autolog.end_run()
    print(json.dumps({"squares": squares}))
"""
    )
    assert run_ok(code, tmp_path)["squares"] == [0, 1, 4, 9]
    # the parent's loop: no run for the pool or per worker, and the run opened for the
    # process that trained nothing was dropped
    (run,) = autolog.search_runs()
    assert run.data.params["lr"] == "0.1"
    assert [value for _, value in recorded(run.info.run_id, "optimizer_steps")] == [2.0]
    assert not any("/worker_" in key for key in run.data.metrics)
    assert "autolog.workers" not in run.data.tags


@pytest.mark.slow
def test_workers_with_models_of_their_own_log_one_each(tmp_path: Path) -> None:
    code = (
        WORKER
        + """
def own_model(rank, queue):
    train(rank, torch.nn.Linear(4, 1), queue)  # an ensemble's member, not a shared model


if __name__ == "__main__":
    autolog.autolog()
    context = mp.get_context("fork")
    queue = context.SimpleQueue()
    workers = [context.Process(target=own_model, args=(rank, queue)) for rank in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report(queue, run_id=autolog.last_active_run().info.run_id)
"""
    )
    result = run_ok(code, tmp_path)
    (run,) = autolog.search_runs()
    assert run.info.run_id == result["run_id"]
    assert_worker_series(run.info.run_id, result["losses"])
    names = {info.path for info in autolog.list_artifacts(run.info.run_id)}
    assert names == {"checkpoints", "model_worker_0", "model_worker_1"}
    for rank in (0, 1):
        model = autolog.load_model(f"runs:/{run.info.run_id}/model_worker_{rank}")
        assert isinstance(model, torch.nn.Linear)


@pytest.mark.slow
def test_spawned_workers_inherit_the_options_autolog_was_given(tmp_path: Path) -> None:
    code = (
        WORKER
        + """
def own_model(rank, queue):
    train(rank, torch.nn.Linear(4, 1), queue)


if __name__ == "__main__":
    autolog.autolog(log_models=False, torch={"log_every_n_steps": 2, "log_checkpoints": False})
    context = mp.get_context("spawn")
    queue = context.SimpleQueue()
    workers = [context.Process(target=own_model, args=(rank, queue)) for rank in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report(queue, run_id=autolog.last_active_run().info.run_id)
"""
    )
    result = run_ok(code, tmp_path)
    (run,) = autolog.search_runs()
    assert run.info.run_id == result["run_id"]
    assert_worker_series(run.info.run_id, result["losses"])
    for rank in (0, 1):  # every 2 of the 8 optimizer steps
        steps = recorded(run.info.run_id, f"step_training_loss/worker_{rank}")
        assert [step for step, _ in steps] == [2, 4, 6, 8]
    assert autolog.list_artifacts(run.info.run_id) == []  # no model, no checkpoint


@pytest.mark.slow
def test_a_failed_worker_fails_the_run_opened_for_the_workers(tmp_path: Path) -> None:
    code = (
        WORKER
        + """
def fails_later(rank, model, queue):
    train(rank, model, queue)
    if rank == 1:
        raise RuntimeError("worker 1 broke")


if __name__ == "__main__":
    autolog.autolog()
    context = mp.get_context("fork")
    model = shared_model()
    queue = context.SimpleQueue()
    workers = [context.Process(target=fails_later, args=(r, model, queue)) for r in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    report(queue, run_id=autolog.last_active_run().info.run_id)
"""
    )
    done = run_script(code, tmp_path, env={"AUTOLOG_STRICT": "1"})
    assert done.returncode == 0, done.stderr
    assert "RuntimeError: worker 1 broke" in done.stderr  # multiprocessing's own report
    result = json.loads(done.stdout.strip().splitlines()[-1])
    (run,) = autolog.search_runs()
    assert run.info.run_id == result["run_id"]
    assert run.info.status is RunStatus.FAILED
    assert run.data.tags["autolog.workers.failed"] == "worker_1 (exit status 1)"
    assert_worker_series(run.info.run_id, result["losses"])  # all it did is kept
    # no model of a failed training
    assert [info.path for info in autolog.list_artifacts(run.info.run_id)] == ["checkpoints"]


@pytest.mark.slow
def test_a_process_class_that_overrides_run_is_said_once(tmp_path: Path) -> None:
    code = (
        WORKER
        + """
class Trainer(mp.Process):
    def __init__(self, rank, model, queue):
        super().__init__()
        self.rank, self.model, self.queue = rank, model, queue

    def run(self):
        train(self.rank, self.model, self.queue)


if __name__ == "__main__":
    import warnings
    autolog.autolog()
    context = mp.get_context("fork")
    model = shared_model()
    queue = context.SimpleQueue()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        workers = [Trainer(rank, model, queue) for rank in range(2)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    report(queue, warned=[str(w.message) for w in caught])
"""
    )
    result = run_ok(code, tmp_path)
    (message,) = result["warned"]
    assert "Trainer overrides run()" in message
    assert "not recorded" in message


def test_a_worker_that_cannot_reach_the_parents_run_says_so_and_records_its_own(
    tmp_path: Path,
) -> None:
    from autolog.integrations import _workers
    from autolog.integrations.patching import Settings
    from autolog.integrations.torch import TorchOptions

    def train() -> None:
        model = torch.nn.Linear(2, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        data = torch.utils.data.TensorDataset(torch.ones(8, 2), torch.zeros(8, 1))
        for xb, yb in torch.utils.data.DataLoader(data, batch_size=4):
            optimizer.zero_grad()
            torch.nn.functional.mse_loss(model(xb), yb).backward()
            optimizer.step()

    gone = "0" * 32  # the parent's run, ended (or never stored) before the worker began
    target = _workers.WorkerTarget(
        train,
        {"torch": Settings(options=TorchOptions())},
        autolog.get_tracking_uri(),
        "Default",
        gone,
        1,
    )
    with pytest.warns(autolog.AutologWarning, match="worker process 1 cannot record into run"):
        target()
    try:
        (run,) = autolog.search_runs()
        assert run.info.run_id != gone
        assert run.data.params["optimizer"] == "SGD"
        assert "training_loss" in run.data.metrics  # its own run: plain names
    finally:
        autolog.autolog(disable=True)


@pytest.mark.slow
def test_a_grid_search_on_joblib_workers_is_recorded_as_without_them() -> None:
    pytest.importorskip("sklearn", reason="the grid search needs scikit-learn")
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    autolog.autolog()
    recorded_runs = []
    try:
        for n_jobs in (1, 2):  # 2: joblib's loky worker processes fit the candidates
            with autolog.start_run() as parent:
                search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=2, n_jobs=n_jobs)
                search.fit(X, y)
            everything = autolog.search_runs()
            children = [
                run
                for run in everything
                if run.data.tags.get("autolog.parentRunId") == parent.info.run_id
            ]
            recorded_runs.append(
                (
                    sorted(sorted(run.data.params.items()) for run in children),
                    sorted(autolog.get_run(parent.info.run_id).data.metrics),
                )
            )
    finally:
        autolog.autolog(disable=True)
    assert recorded_runs[0] == recorded_runs[1]
    assert recorded_runs[0][0]  # the search's candidates were recorded
    assert len(everything) == 2 + 2 * len(recorded_runs[0][0])  # no run of a worker's own
    assert not any("autolog.workers" in run.data.tags for run in everything)
