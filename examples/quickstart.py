"""Track a small training loop by hand, then read back what was recorded.

Run with `make demo`. Uses only the tracking core: the integrations (scikit-learn, LightGBM,
PyTorch) record the same things with no logging calls at all once `autolog.autolog()` exists.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import autolog


class LinearModel:
    def __init__(self) -> None:
        self.w = 0.0
        self.b = 0.0

    def predict(self, x: float) -> float:
        return self.w * x + self.b


def train(lr: float, epochs: int) -> LinearModel:
    rng = random.Random(0)
    data = [
        (x, 3.0 * x + 1.0 + rng.gauss(0, 0.1)) for x in (rng.uniform(-1, 1) for _ in range(256))
    ]
    model = LinearModel()
    autolog.log_params({"lr": lr, "epochs": epochs, "n_samples": len(data)})
    for epoch in range(epochs):
        loss = 0.0
        for x, y in data:
            err = model.predict(x) - y
            model.w -= lr * err * x
            model.b -= lr * err
            loss += err * err
        autolog.log_metric("train_loss", loss / len(data), step=epoch)
    return model


def main() -> None:
    autolog.set_experiment("quickstart")
    with autolog.start_run(run_name="linear-sgd", tags={"example": "quickstart"}) as run:
        model = train(lr=0.05, epochs=20)
        with tempfile.TemporaryDirectory() as tmp:
            notes = Path(tmp) / "notes.json"
            notes.write_text(json.dumps({"w": model.w, "b": model.b}))
            autolog.log_artifact(notes)
        autolog.log_model(model)

    run_id = run.info.run_id
    stored = autolog.get_run(run_id)
    print(f"tracking URI: {autolog.get_tracking_uri()}")
    print(f"run {stored.info.run_name} ({run_id}): {stored.info.status}")
    print(f"  params:  {dict(stored.data.params)}")
    print(f"  metrics: {dict(stored.data.metrics)}")
    history = autolog.get_metric_history(run_id, "train_loss")
    first, last = history[0].value, history[-1].value
    print(f"  train_loss history: {len(history)} steps, {first:.4f} -> {last:.4f}")
    context = {k: v for k, v in stored.data.tags.items() if k.startswith("autolog.")}
    print(f"  context: {json.dumps(context, indent=4)}")
    print(f"  artifacts: {[f.path for f in autolog.list_artifacts(run_id)]}")
    loaded = autolog.load_model(f"runs:/{run_id}/model")
    assert isinstance(loaded, LinearModel)
    print(f"  load_model -> w={loaded.w:.3f}, b={loaded.b:.3f} (hash-verified before unpickling)")
    found = autolog.search_runs(["quickstart"], "metrics.train_loss < 0.1", ["metrics.train_loss"])
    print(f"  search 'metrics.train_loss < 0.1': {[r.info.run_name for r in found]}")


if __name__ == "__main__":
    main()
