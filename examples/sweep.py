"""A learning-rate sweep: one parent run with a child run per rate, then the best model
registered. What the web UI shows best: compare the children, preview their artifacts.

Run with `make demo`, then `autolog ui --backend-store-uri examples/autolog-runs/autolog.db`.
"""

from __future__ import annotations

import csv
import json
import math
import random
import struct
import tempfile
import zlib
from pathlib import Path

import autolog

RATES = [0.3, 0.1, 0.03, 0.01]
EPOCHS = 60


def png(width: int, height: int, pixels: list[list[tuple[int, int, int]]]) -> bytes:
    """A PNG image from rows of RGB pixels (the standard library is enough)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\x00" + bytes(c for pixel in row for c in pixel) for row in pixels)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + (chunk(b"IEND", b""))
    )


def loss_plot(losses: list[float]) -> bytes:
    """The training loss as a small image, the kind of plot a training script saves."""
    width, height = 240, 120
    pixels = [[(255, 255, 255)] * width for _ in range(height)]
    top, bottom = max(losses), min(losses)
    for x in range(width):
        value = losses[min(len(losses) - 1, x * len(losses) // width)]
        y = int((top - value) / ((top - bottom) or 1.0) * (height - 9)) + 4
        for dy in (-1, 0, 1):
            pixels[max(0, min(height - 1, y + dy))][x] = (78, 121, 167)
    return png(width, height, pixels)


def train(rate: float, rng: random.Random) -> tuple[float, list[dict[str, float]]]:
    """A noisy, decaying loss curve whose speed depends on the rate (too high: it diverges)."""
    rows = []
    speed = rate * 12 if rate < 0.2 else 0.6
    floor = 0.05 + (0.4 if rate > 0.2 else 0.0)
    loss = 2.0
    for epoch in range(EPOCHS):
        loss = floor + (loss - floor) * math.exp(-speed / 4) + rng.gauss(0, 0.015)
        accuracy = max(0.0, min(1.0, 1.0 - loss / 2.2 + rng.gauss(0, 0.005)))
        val_loss = loss * 1.08 + abs(rng.gauss(0, 0.02))
        row = {"epoch": epoch, "loss": loss, "val_loss": val_loss, "accuracy": accuracy}
        autolog.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=epoch)
        autolog.log_metric("learning_rate", rate * 0.5 ** (epoch // 20), step=epoch)
        rows.append(row)
    return val_loss, rows


def main() -> None:
    autolog.set_experiment("lr-sweep")
    rng = random.Random(7)
    results = {}
    with autolog.start_run(run_name="sweep", tags={"example": "sweep"}) as parent:
        autolog.log_params({"rates": ",".join(map(str, RATES)), "epochs": EPOCHS})
        for rate in RATES:
            with autolog.start_run(run_name=f"lr={rate}", nested=True) as child:
                autolog.log_params({"lr": rate, "epochs": EPOCHS, "optimizer": "sgd"})
                val_loss, rows = train(rate, rng)
                with tempfile.TemporaryDirectory() as tmp:
                    folder = Path(tmp)
                    with (folder / "history.csv").open("w", newline="") as f:
                        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
                        writer.writeheader()
                        writer.writerows({k: round(v, 5) for k, v in row.items()} for row in rows)
                    config = {"lr": rate, "epochs": EPOCHS, "schedule": {"halve_every": 20}}
                    (folder / "config.json").write_text(json.dumps(config))
                    (folder / "train.log").write_text(
                        "".join(
                            f"epoch {int(r['epoch']):3d}  loss {r['loss']:.4f}  "
                            f"val_loss {r['val_loss']:.4f}\n"
                            for r in rows
                        )
                    )
                    (folder / "loss.png").write_bytes(loss_plot([r["loss"] for r in rows]))
                    autolog.log_artifacts(folder)
                autolog.log_model({"lr": rate, "weights": [rng.random() for _ in range(8)]})
                results[child.info.run_id] = val_loss
        best = min(results, key=results.__getitem__)
        autolog.log_metric("best_val_loss", results[best])
        autolog.set_tag("best_run", best)
    version = autolog.register_model(f"runs:/{best}/model", "lr-sweep-model")
    autolog.set_model_alias("lr-sweep-model", "champion", version.version)
    print(f"sweep {parent.info.run_id}: {len(RATES)} child runs, best {best}")
    print(f"registered lr-sweep-model v{version.version} @champion")


if __name__ == "__main__":
    main()
