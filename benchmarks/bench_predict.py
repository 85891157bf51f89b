"""``autolog models predict`` on a large file (issue 20): memory stays under 300 MB on
1,000,000 rows, whatever the format. Prints each figure against its target.

    .venv/bin/python benchmarks/bench_predict.py [csv|parquet|jsonl ...] [--rows N]

A LogisticRegression on 8 numeric columns is logged to a SQLite store in a temporary folder;
a file of N rows (1,000,000 by default) is written in chunks, and ``autolog models predict``
runs on it in a subprocess whose peak resident memory (VmHWM, Linux) is the figure. The
baseline is the same command's imports and model load alone (a 5-row file): the difference is
what the rows cost.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

LIMIT_MB = 300
COLUMNS = [f"x{i}" for i in range(8)]
_GENERATE_ROWS = 100_000  # rows generated at a time: the generator's memory stays small too


def report(name: str, figure: str, ok: bool) -> None:
    print(f"{'PASS' if ok else 'MISS'}  {name}: {figure}", flush=True)


def logged_model(folder: Path) -> tuple[str, str]:
    """A LogisticRegression logged with its signature; its URI and tracking URI."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    import autolog

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.random((2_000, len(COLUMNS))), columns=COLUMNS)
    target = (frame["x0"] + frame["x1"] > 1).astype(int)
    model = LogisticRegression().fit(frame, target)
    tracking_uri = f"sqlite:///{folder}/runs.db"
    with autolog.Client(tracking_uri) as client:
        run_id = client.create_run("bench_predict").info.run_id
        uri = client.log_model(run_id, model, input_example=frame)
        client.set_terminated(run_id)
        assert client.flush(60)
    return uri, tracking_uri


def write_input(path: Path, fmt: str, rows: int) -> None:
    """``rows`` rows of random floats in ``fmt``, generated a chunk at a time."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(1)
    parquet: Any = None
    with open(path, "w", encoding="utf-8") as text:
        for start in range(0, rows, _GENERATE_ROWS):
            count = min(_GENERATE_ROWS, rows - start)
            frame = pd.DataFrame(rng.random((count, len(COLUMNS))), columns=COLUMNS)
            if fmt == "csv":
                frame.to_csv(text, index=False, header=start == 0)
            elif fmt == "jsonl":
                frame.to_json(text, orient="records", lines=True)
            else:
                import pyarrow as pa
                import pyarrow.parquet as pq

                table = pa.Table.from_pandas(frame, preserve_index=False)
                if parquet is None:
                    parquet = pq.ParquetWriter(str(path), table.schema)
                parquet.write_table(table)
    if parquet is not None:
        parquet.close()


def peak_rss_mb(args: list[str], cwd: Path) -> tuple[float, float]:
    """Peak resident memory (MB) and wall-clock seconds of ``autolog ARGS`` in a fresh
    process, which reports its own peak as it exits."""
    # VmHWM, the peak of this process's own memory since its exec: ru_maxrss would carry
    # over the peak of the parent it was forked from (this script, with its generated rows)
    code = (
        "import sys\nfrom autolog.cli import main\ntry:\n    main(sys.argv[1:])\nfinally:\n"
        "    status = open('/proc/self/status').read().split('VmHWM:')[1].split()[0]\n"
        "    sys.stderr.write(f'\\nPEAK_KB {status}\\n')\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"autolog {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    peak = [line for line in done.stderr.splitlines() if line.startswith("PEAK_KB ")]
    return int(peak[-1].split()[1]) / 1024, seconds


def bench(fmt: str, rows: int, folder: Path, uri: str, tracking_uri: str) -> None:
    source = folder / f"input.{fmt}"
    small = folder / f"small.{fmt}"
    write_input(small, fmt, 5)
    write_input(source, fmt, rows)
    size_mb = source.stat().st_size / 2**20
    common = ["models", "predict", uri, "--tracking-uri", tracking_uri]
    base, _ = peak_rss_mb(
        [*common, "-i", str(small), "-o", str(folder / f"small-out.{fmt}")], folder
    )
    peak, seconds = peak_rss_mb(
        [*common, "-i", str(source), "-o", str(folder / f"out.{fmt}"), "--keep-columns"], folder
    )
    report(
        f"models predict {fmt} -> {fmt}, {rows:,} rows x {len(COLUMNS)} columns "
        f"({size_mb:.0f} MB in), --keep-columns",
        f"peak RSS {peak:.0f} MB (imports and model alone: {base:.0f} MB), target < {LIMIT_MB} MB; "
        f"{seconds:.1f} s, {rows / seconds:,.0f} rows/s",
        peak < LIMIT_MB,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("formats", nargs="*", default=["csv", "parquet", "jsonl"])
    parser.add_argument("--rows", type=int, default=1_000_000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ.pop("AUTOLOG_TRACKING_URI", None)
        uri, tracking_uri = logged_model(folder)
        for fmt in options.formats:
            bench(fmt, options.rows, folder, uri, tracking_uri)
    return 0


if __name__ == "__main__":
    sys.exit(main())
