"""The Hugging Face Trainer: one run per training, Trainer's own logs, checkpoints, the model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import autolog
from autolog import RunStatus
from autolog.errors import InvalidInputError


@pytest.fixture(scope="module")
def hf() -> ModuleType:
    """transformers_models.py (transformers, torch and these tests' helpers), imported at run time.

    Importing transformers takes seconds; here a test pays it, not the collection of the suite.
    """
    pytest.importorskip("torch", reason="the transformers tests need torch")
    pytest.importorskip(
        "transformers",
        reason="transformers is not installed: `pip install autolog[transformers]`",
    )
    import transformers_models

    return transformers_models


@pytest.fixture
def autologged(hf: ModuleType) -> Iterator[None]:
    autolog.autolog()
    yield
    autolog.autolog(disable=True)


def the_run() -> Any:
    autolog.flush()
    runs = autolog.search_runs()
    assert len(runs) == 1, [r.info.run_name for r in runs]
    return runs[0]


def history(run_id: str, key: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in autolog.get_metric_history(run_id, key)]


def checkpoints(run_id: str) -> dict[str, list[str]]:
    folders = autolog.list_artifacts(run_id, "checkpoints")
    return {
        Path(f.path).name: sorted(Path(g.path).name for g in autolog.list_artifacts(run_id, f.path))
        for f in folders
    }


def numbers(entry: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in entry.items() if k != "step" and isinstance(v, (int, float))}


@pytest.mark.slow
def test_trainer_logs_are_recorded_at_its_global_steps(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    user = hf.Noting()
    trainer = hf.make_trainer(tmp_path, trainer={"callbacks": [user]})
    trainer.train()
    run = the_run()  # one run: no plain-loop run beside it, no second one for the callback
    run_id = run.info.run_id
    log = trainer.state.log_history
    recorded: dict[str, list[tuple[int, float]]] = {}
    for entry in log:
        for key, value in numbers(entry).items():
            recorded.setdefault(key, []).append((entry["step"], value))
    trainers_keys = {"loss", "learning_rate", "grad_norm", "eval_loss", "train_runtime"}
    assert {*trainers_keys, "total_flos"} <= set(recorded)
    for key, expected in recorded.items():
        assert history(run_id, key) == expected, key
    # 2 epochs of 4 steps, evaluated at the end of each: 2, not 3, and none late or lost
    assert [step for step, _ in history(run_id, "eval_loss")] == [4, 8]
    assert max(value for _, value in history(run_id, "epoch")) == 2.0
    assert trainer.state.global_step == 8
    # the plain-loop detector stood aside inside Trainer
    assert not {"training_loss", "validation_loss", "optimizer", "lr"} & (
        set(run.data.metrics) | set(run.data.params)
    )
    assert len(user.logs) == len(log)


def test_params_are_the_training_arguments_and_model_config(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(tmp_path)
    trainer.train()
    params = the_run().data.params
    args = trainer.args.to_dict()
    assert {k for k in params if k.startswith("args.")} == {f"args.{k}" for k in args} | {
        "args.train_batch_size",
        "args.eval_batch_size",
    }
    assert params["args.learning_rate"] == "0.001"
    assert params["args.num_train_epochs"] == "2"
    assert params["args.eval_strategy"] == "epoch"
    assert params["args.train_batch_size"] == "16"
    config = trainer.model.config.to_dict()
    assert {k for k in params if k.startswith("config.")} == {f"config.{k}" for k in config}
    assert params["config.hidden_size"] == "32"
    assert params["config.num_hidden_layers"] == "2"
    assert params["model_class"] == "BertForSequenceClassification"
    total = sum(p.numel() for p in trainer.model.parameters())
    assert params["total_params"] == params["trainable_params"] == str(total)


@pytest.mark.slow
def test_evaluate_and_predict_after_training_go_into_its_run(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(tmp_path)
    trainer.train()
    evaluated = trainer.evaluate()
    predicted = trainer.predict(hf.make_data(16, 2))
    named = trainer.predict(hf.make_data(16, 3), metric_key_prefix="holdout")
    run = the_run()
    run_id = run.info.run_id
    assert run.info.status == RunStatus.RUNNING  # open for the trainer's evaluations
    assert history(run_id, "eval_loss")[-1] == (8, evaluated["eval_loss"])
    assert history(run_id, "eval_runtime")[-1] == (8, evaluated["eval_runtime"])
    assert history(run_id, "test_loss") == [(8, predicted.metrics["test_loss"])]
    assert history(run_id, "test_runtime") == [(8, predicted.metrics["test_runtime"])]
    assert history(run_id, "holdout_loss") == [(8, named.metrics["holdout_loss"])]
    del trainer  # the run ends with its trainer
    assert the_run().info.status == RunStatus.FINISHED


def test_evaluate_before_any_training_is_a_run_of_its_own(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(tmp_path)
    metrics = trainer.evaluate()
    run = the_run()
    assert run.info.status == RunStatus.FINISHED
    assert run.data.tags["autolog.transformers.stage"] == "evaluate"
    assert history(run.info.run_id, "eval_loss") == [(0, metrics["eval_loss"])]
    assert run.data.params["model_class"] == "BertForSequenceClassification"


def test_training_inside_a_user_run_logs_there_with_its_evaluations(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(tmp_path)
    with autolog.start_run() as user_run:
        trainer.train()
        trainer.evaluate()
        predicted = trainer.predict(hf.make_data(16, 2))
        assert autolog.active_run() is not None  # never ended by autolog
    run = the_run()
    assert run.info.run_id == user_run.info.run_id
    assert run.info.status == RunStatus.FINISHED
    assert run.data.params["args.learning_rate"] == "0.001"
    assert history(run.info.run_id, "test_loss") == [(8, predicted.metrics["test_loss"])]
    assert [s for s, _ in history(run.info.run_id, "eval_loss")] == [4, 8, 8]


@pytest.mark.slow
def test_predict_after_the_user_run_ended_goes_to_a_child_of_it(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(tmp_path, eval_strategy="no")
    with autolog.start_run() as user_run:
        trainer.train()
    predicted = trainer.predict(hf.make_data(16, 2))
    autolog.flush()
    runs = {r.info.run_id: r for r in autolog.search_runs()}
    assert len(runs) == 2
    child = next(r for r in runs.values() if r.info.run_id != user_run.info.run_id)
    assert child.data.tags["autolog.parentRunId"] == user_run.info.run_id
    assert child.info.status == RunStatus.FINISHED
    assert history(child.info.run_id, "test_loss") == [(8, predicted.metrics["test_loss"])]


@pytest.mark.slow
def test_the_model_is_logged_in_hugging_face_format_with_its_tokenizer(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world"]))
    tokenizer = hf.transformers.BertTokenizer(vocab_file=str(vocab))
    trainer = hf.make_trainer(tmp_path, eval_strategy="no", trainer={"processing_class": tokenizer})
    trainer.train()
    run_id = the_run().info.run_id
    files = {Path(f.path).name for f in autolog.list_artifacts(run_id, "model")}
    assert {"config.json", "model.safetensors", "tokenizer_config.json"} <= files
    assert not {f for f in files if f.endswith((".pkl", ".bin", ".pt"))}
    loaded = autolog.load_model(f"runs:/{run_id}/model")
    assert type(loaded) is hf.BertForSequenceClassification
    batch = hf.torch.stack([d["input_ids"] for d in hf.make_data(4, 5)])
    trainer.model.eval()
    with hf.torch.no_grad():
        assert hf.torch.equal(loaded(input_ids=batch).logits, trainer.model(input_ids=batch).logits)
    folder = autolog.download_artifacts(run_id, "model", tmp_path / "downloaded")
    again = hf.transformers.AutoTokenizer.from_pretrained(folder, local_files_only=True)
    assert again("hello world")["input_ids"] == tokenizer("hello world")["input_ids"]


def test_the_model_files_are_verified_before_loading(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(tmp_path, eval_strategy="no", num_train_epochs=1)
    trainer.train()
    run = the_run()
    root = Path(run.info.artifact_uri.removeprefix("file://"))
    weights = root / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(autolog.ModelIntegrityError):
        autolog.load_model(f"runs:/{run.info.run_id}/model")


def test_checkpoint_folders_are_logged_with_their_weights_newest_kept(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    # Trainer keeps one on disk; autolog keeps the newest max_checkpoints (2) all the same
    trainer = hf.make_trainer(
        tmp_path, eval_strategy="no", save_strategy="steps", save_steps=2, save_total_limit=1
    )
    trainer.train()
    logged = checkpoints(the_run().info.run_id)
    assert set(logged) == {"checkpoint-6", "checkpoint-8"}
    for files in logged.values():
        assert {"model.safetensors", "config.json", "optimizer.pt", "trainer_state.json"} <= set(
            files
        )


def test_max_checkpoints_keeps_the_best_one_too(hf: ModuleType, tmp_path: Path) -> None:
    autolog.autolog(transformers={"max_checkpoints": 1})
    scores = iter([0.9, 0.1, 0.2, 0.3])  # the first evaluation is the best

    def compute_metrics(prediction: Any) -> dict[str, float]:
        return {"score": next(scores)}

    try:
        trainer = hf.make_trainer(
            tmp_path,
            eval_strategy="steps",
            eval_steps=2,
            save_strategy="steps",
            save_steps=2,
            metric_for_best_model="score",
            greater_is_better=True,
            trainer={"compute_metrics": compute_metrics},
        )
        trainer.train()
    finally:
        autolog.autolog(disable=True)
    run = the_run()
    assert set(checkpoints(run.info.run_id)) == {"checkpoint-2", "checkpoint-8"}
    assert trainer.state.best_model_checkpoint.endswith("checkpoint-2")
    assert run.data.tags["autolog.transformers.best_checkpoint"] == "checkpoints/checkpoint-2"


def test_max_checkpoints_zero_logs_none_and_bad_values_are_refused(
    hf: ModuleType, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInputError):
        autolog.autolog(transformers={"max_checkpoints": -1})
    autolog.autolog(transformers={"max_checkpoints": 0})
    try:
        hf.make_trainer(tmp_path, eval_strategy="no", save_strategy="epoch").train()
    finally:
        autolog.autolog(disable=True)
    assert checkpoints(the_run().info.run_id) == {}


def test_a_failing_training_keeps_its_params_metrics_and_checkpoints(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(
        tmp_path, save_strategy="epoch", trainer={"callbacks": [hf.Failing()]}
    )
    with pytest.raises(RuntimeError, match="out of memory"):
        trainer.train()
    run = the_run()
    assert run.info.status == RunStatus.FAILED
    assert run.data.params["args.learning_rate"] == "0.001"
    assert run.data.params["model_class"] == "BertForSequenceClassification"
    assert [s for s, _ in history(run.info.run_id, "loss")] == [2, 4]
    assert set(checkpoints(run.info.run_id)) == {"checkpoint-4"}
    assert not autolog.list_artifacts(run.info.run_id, "model")
    # the trainer's later evaluations are not the failed run's
    trainer.evaluate()
    autolog.flush()
    assert len(autolog.search_runs()) == 2


@pytest.mark.slow
def test_training_again_ends_the_last_run_and_starts_another(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(tmp_path, eval_strategy="no", num_train_epochs=1)
    trainer.train()
    trainer.train()
    autolog.flush()
    runs = autolog.search_runs()
    assert sorted(r.info.status for r in runs) == [RunStatus.FINISHED, RunStatus.RUNNING]
    autolog.autolog(disable=True)  # ends the run kept open for evaluate()
    assert {r.info.status for r in autolog.search_runs()} == {RunStatus.FINISHED}


def test_disable_restores_trainer(hf: ModuleType, tmp_path: Path) -> None:
    originals = {name: vars(hf.Trainer)[name] for name in ("train", "evaluate", "predict")}
    autolog.autolog()
    assert all(vars(hf.Trainer)[name] is not f for name, f in originals.items())
    autolog.autolog(disable=True)
    assert {name: vars(hf.Trainer)[name] for name in originals} == originals
    hf.make_trainer(tmp_path, eval_strategy="no", num_train_epochs=1).train()
    autolog.flush()
    assert autolog.search_runs() == []


def test_report_to_none_and_no_callback_left_behind(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    trainer = hf.make_trainer(tmp_path, eval_strategy="no", num_train_epochs=1)
    before = list(trainer.callback_handler.callbacks)
    trainer.train()
    assert trainer.callback_handler.callbacks == before


def test_a_plain_loop_run_still_open_ends_when_trainer_trains(
    hf: ModuleType, tmp_path: Path, autologged: None
) -> None:
    net = hf.torch.nn.Linear(4, 1)
    optimizer = hf.torch.optim.SGD(net.parameters(), lr=0.1)
    X = hf.torch.randn(32, 4)
    loader = hf.torch.utils.data.DataLoader(
        hf.torch.utils.data.TensorDataset(X, X.sum(1)), batch_size=8
    )
    for _ in range(2):
        for x, y in loader:
            optimizer.zero_grad()
            hf.torch.nn.functional.mse_loss(net(x).squeeze(1), y).backward()
            optimizer.step()
    plain = autolog.active_run()
    assert plain is not None  # a plain loop's run stays open after its loop
    trainer = hf.make_trainer(tmp_path, eval_strategy="no", num_train_epochs=1)
    trainer.train()
    autolog.flush()
    runs = {r.info.run_id: r for r in autolog.search_runs()}
    assert len(runs) == 2
    assert runs[plain.info.run_id].info.status == RunStatus.FINISHED
    (hf,) = [r for r in runs.values() if r.info.run_id != plain.info.run_id]
    assert hf.info.parent_run_id is None
    assert "args.learning_rate" in hf.data.params
    assert "args.learning_rate" not in runs[plain.info.run_id].data.params
