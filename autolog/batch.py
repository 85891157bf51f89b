"""Predicting a file of any size with a model: ``autolog models predict``.

The file (CSV, Parquet or JSON lines) is read ``chunk_rows`` rows at a time; each chunk is
checked against the model's signature, predicted and written out before the next one is read,
so memory holds one chunk however large the file is. The output appears whole or not at all:
it is written to a temporary file beside it, renamed into place once every row is predicted.

Rows are numbered from 1, the first row of data (a CSV header is not a row), so an error names
the rows to look at: ``rows 50001-100000 of data.csv: column 'age' holds str values; ...``.

Example::

    predictor = autolog.load_predictor("models:/churn@prod")
    predict_file(predictor, "customers.parquet", "scores.csv", keep_columns=True)
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NamedTuple

from autolog.errors import InvalidInputError

if TYPE_CHECKING:
    from autolog.predictor import Predictor

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "PredictReport",
    "Progress",
    "file_format",
    "predict_file",
]

FORMATS = ("csv", "parquet", "jsonl")
#: rows predicted at once: enough that a model predicts at full speed (a call per 20,000 rows),
#: few enough that a chunk of JSON lines, parsed into Python objects first, stays within tens of
#: megabytes for a few dozen columns (memory grows with rows x columns: --chunk-rows lowers it)
DEFAULT_CHUNK_ROWS = 20_000
_SUFFIXES = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_STREAM = "-"  # standard input or output (CSV and JSON lines only)

#: ``progress(done, total)``: bytes read of a CSV or JSON-lines file, rows of a Parquet file;
#: ``total`` is 0 where it is not known (standard input)
Progress = Callable[[int, int], None]


class PredictReport(NamedTuple):
    """What ``predict_file`` wrote."""

    rows: int
    chunks: int
    #: the output's columns: the input's first where kept, then the predictions'
    columns: tuple[str, ...]


def file_format(path: str, given: str | None) -> str:
    """The format of ``path``: ``given`` where given, else read from its suffix (``-``, a
    stream, is CSV).

    Raises:
        InvalidInputError: the suffix is not one of a format (the message lists them).
    """
    if given is not None:
        if given.lower() not in FORMATS:
            raise InvalidInputError(f"file formats are {', '.join(FORMATS)}, not {given!r}")
        return given.lower()
    if path == _STREAM:
        return "csv"
    fmt = _SUFFIXES.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"cannot tell the format of {path!r} from its suffix: name it .csv, .parquet or "
            ".jsonl, or give the format"
        )
    return fmt


def predict_file(
    predictor: Predictor,
    source: str,
    target: str,
    *,
    input_format: str | None = None,
    output_format: str | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    keep_columns: bool = False,
    progress: Progress | None = None,
) -> PredictReport:
    """Predict every row of the file ``source`` into the file ``target`` (``-``: standard
    input or output), ``chunk_rows`` rows at a time.

    The output holds one row per input row, in order: the prediction in a column
    ``prediction`` (a model giving several values per row: one column per value, named as
    its output signature names them, else ``prediction_0``, ``prediction_1``, ...), after the
    input's columns where ``keep_columns``.

    Raises:
        InvalidInputError: the input cannot be read, holds no rows, or rows that do not fit
            the model (the message names the rows and, where it can, the column); no output
            file is left then (standard output has had the chunks before).
    """
    if chunk_rows < 1:
        raise InvalidInputError(f"chunk_rows is a positive number of rows, not {chunk_rows!r}")
    read_as = file_format(source, input_format)
    write_as = file_format(target, output_format)
    for path, fmt in ((source, read_as), (target, write_as)):
        if path == _STREAM and fmt == "parquet":
            raise InvalidInputError("Parquet is read from and written to files, not streams")
    _check_libraries(read_as, write_as)
    rows = chunks = 0
    columns: tuple[str, ...] = ()
    with _output(target, write_as) as writer:
        for frame, done, total in _read(source, read_as, chunk_rows):
            first, last = rows + 1, rows + len(frame)
            place = f"rows {first}-{last} of {source}"
            output = _predictions(predictor, frame, place)
            if keep_columns:
                output = _joined(frame, output, place)
            writer(output, place)
            rows, chunks = last, chunks + 1
            columns = tuple(str(c) for c in output.columns)
            if progress is not None:
                progress(done, total)
        if rows == 0:
            raise InvalidInputError(f"{source} holds no rows to predict")
    return PredictReport(rows, chunks, columns)


def _check_libraries(*formats: str) -> None:
    """Name what to install before anything is read or written."""
    try:
        import pandas  # noqa: F401  (every format is read into a DataFrame)
    except ImportError:
        raise InvalidInputError(
            "predicting a file needs pandas, which is not installed: pip install pandas"
        ) from None
    if "parquet" in formats:
        try:
            import pyarrow.parquet  # noqa: F401
        except ImportError:
            raise InvalidInputError(
                "reading or writing Parquet needs pyarrow, which is not installed: "
                "pip install 'autolog[models]' (or pip install pyarrow)"
            ) from None


# -- reading ------------------------------------------------------------------------------------


def _read(source: str, fmt: str, chunk_rows: int) -> Iterator[tuple[Any, int, int]]:
    """The chunks of ``source`` as DataFrames, each with how far the file is read and how
    far it goes (see ``Progress``)."""
    if fmt == "parquet":
        yield from _parquet_chunks(source, chunk_rows)
        return
    with _opened(source) as (handle, total):
        position = handle.tell if total else (lambda: 0)
        chunks = _csv_chunks if fmt == "csv" else _jsonl_chunks
        frames = chunks(handle, chunk_rows)
        with contextlib.closing(frames):
            yield from _counted(frames, source, position, total)


def _counted(
    frames: Iterator[Any], source: str, position: Callable[[], int], total: int
) -> Iterator[tuple[Any, int, int]]:
    """The non-empty frames of ``frames``, a reading error named with the rows read before."""
    rows = 0
    while True:
        try:
            frame = next(frames, None)
        except (ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are these
            raise _unreadable(source, rows, exc) from None
        if frame is None:
            return
        rows += len(frame)
        if len(frame):
            yield frame, position(), total


@contextlib.contextmanager
def _opened(source: str) -> Iterator[tuple[IO[bytes], int]]:
    """``source`` opened to read bytes, and its size (0 for standard input)."""
    if source == _STREAM:
        yield sys.stdin.buffer, 0
        return
    try:
        handle = open(source, "rb")  # noqa: SIM115  (closed below, after the last chunk)
    except FileNotFoundError:
        raise InvalidInputError(f"no input file {source!r}") from None
    except IsADirectoryError:
        raise InvalidInputError(f"{source!r} is a folder, not a file to predict") from None
    with handle:
        yield handle, os.fstat(handle.fileno()).st_size


def _csv_chunks(handle: IO[bytes], chunk_rows: int) -> Generator[Any, None, None]:
    import pandas as pd

    with pd.read_csv(handle, chunksize=chunk_rows) as reader:
        yield from reader


def _jsonl_chunks(handle: IO[bytes], chunk_rows: int) -> Generator[Any, None, None]:
    import pandas as pd

    # dtype=False: values keep the types JSON gave them ("001" stays text, no guessed dates)
    with pd.read_json(handle, lines=True, chunksize=chunk_rows, dtype=False) as reader:
        yield from reader


def _parquet_chunks(source: str, chunk_rows: int) -> Iterator[tuple[Any, int, int]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        # pre_buffer=False: pre-buffering reads ahead every row group's columns, the whole
        # file held in memory at once where it has many row groups
        parquet = pq.ParquetFile(source, pre_buffer=False)
    except FileNotFoundError:
        raise InvalidInputError(f"no input file {source!r}") from None
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(source, 0, exc) from None
    total = parquet.metadata.num_rows
    rows = 0
    with parquet:
        batches = parquet.iter_batches(batch_size=chunk_rows)
        while True:
            try:
                batch = next(batches, None)
            except (pa.ArrowException, OSError) as exc:
                raise _unreadable(source, rows, exc) from None
            if batch is None:
                return
            rows += batch.num_rows
            if batch.num_rows:
                yield batch.to_pandas(), rows, total
            # Arrow's allocator keeps what a chunk freed for the next one, on top of what
            # Python's keeps: given back, the two stay under one chunk's worth together
            pa.default_memory_pool().release_unused()


def _unreadable(source: str, rows: int, exc: BaseException) -> InvalidInputError:
    message = " ".join(str(exc).split())
    return InvalidInputError(f"{source}: cannot read the rows after row {rows}: {message}")


# -- predicting ---------------------------------------------------------------------------------


def _predictions(predictor: Predictor, frame: Any, place: str) -> Any:
    """The model's predictions on ``frame`` as a DataFrame of as many rows."""
    try:
        output = predictor.predict(frame)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{place}: {exc}") from None
    except (ValueError, TypeError) as exc:  # the model's own refusal (NaN, unseen categories)
        message = " ".join(str(exc).split())
        raise InvalidInputError(
            f"{place}: the model refused them ({type(exc).__name__}: {message})"
        ) from None
    predictions = _as_frame(output, predictor.signature)
    if len(predictions) != len(frame):
        raise InvalidInputError(
            f"{place}: the model gave {len(predictions)} predictions for {len(frame)} rows"
        )
    return predictions


def _as_frame(output: Any, signature: dict[str, Any] | None) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(output, pd.DataFrame):
        frame = output.reset_index(drop=True)
        frame.columns = [str(c) for c in frame.columns]
        return frame
    if isinstance(output, pd.Series):
        return pd.DataFrame({"prediction": output.to_numpy()})
    detach = getattr(output, "detach", None)
    array = np.asarray(detach().cpu().numpy() if callable(detach) else output)
    if array.ndim == 0:
        array = array.reshape(1)
    if array.ndim == 1:
        return pd.DataFrame({"prediction": array})
    array = array.reshape(array.shape[0], -1)
    return pd.DataFrame(array, columns=_output_names(array.shape[1], signature))


def _output_names(count: int, signature: dict[str, Any] | None) -> list[str]:
    """The columns of a model's 2-D output: its output signature's names where it has as many,
    else ``prediction_0``, ``prediction_1``, ..."""
    outputs = (signature or {}).get("outputs") or {}
    named = [str(c.get("name")) for c in outputs.get("columns", []) if isinstance(c, dict)]
    if outputs.get("type") == "dataframe" and len(named) == count:
        return named
    return [f"prediction_{i}" for i in range(count)]


def _joined(frame: Any, predictions: Any, place: str) -> Any:
    import pandas as pd

    inputs = frame.reset_index(drop=True)
    inputs.columns = [str(c) for c in inputs.columns]
    taken = [c for c in predictions.columns if c in inputs.columns]
    if taken:
        raise InvalidInputError(
            f"{place}: the input has a column {taken[0]!r} already; the predictions' column "
            "would hide it (rename it, or leave out --keep-columns)"
        )
    return pd.concat([inputs, predictions], axis=1)


# -- writing ------------------------------------------------------------------------------------

Writer = Callable[[Any, str], None]


@contextlib.contextmanager
def _output(target: str, fmt: str) -> Iterator[Writer]:
    """A function that appends a chunk to ``target``, which appears once the block ends
    without an error (a stream gets each chunk as it comes)."""
    if target == _STREAM:
        yield _text_writer(sys.stdout, fmt)
        sys.stdout.flush()
        return
    path = Path(target)
    if path.is_dir():
        raise InvalidInputError(f"{target!r} is a folder; give the output file's name")
    path.parent.mkdir(parents=True, exist_ok=True)
    # a name of our own rather than mkstemp's file, which is private (0600): the output gets
    # the modes any new file gets
    temporary = path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp"
    try:
        if fmt == "parquet":
            with _parquet_writer(str(temporary)) as write:
                yield write
        else:
            with open(temporary, "x", encoding="utf-8", newline="") as handle:
                yield _text_writer(handle, fmt)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def _text_writer(handle: IO[str], fmt: str) -> Writer:
    header = [True]

    def write(frame: Any, place: str) -> None:
        if fmt == "csv":
            frame.to_csv(handle, index=False, header=header[0])
            header[0] = False
        else:
            # 15 significant digits, the most pandas writes (a float64 has 15 to 17)
            frame.to_json(
                handle, orient="records", lines=True, double_precision=15, force_ascii=False
            )

    return write


@contextlib.contextmanager
def _parquet_writer(path: str) -> Iterator[Writer]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    writers: list[Any] = []

    def write(frame: Any, place: str) -> None:
        try:
            table = pa.Table.from_pandas(frame, preserve_index=False)
            if not writers:
                writers.append(pq.ParquetWriter(path, table.schema))
            schema = writers[0].schema
            if not table.schema.equals(schema):
                table = table.cast(schema)  # a column of nulls, ints where floats came first
        except (pa.ArrowException, ValueError, TypeError) as exc:
            message = " ".join(str(exc).split())
            raise InvalidInputError(f"{place}: cannot be written as Parquet: {message}") from None
        writers[0].write_table(table)

    try:
        yield write
    finally:
        for writer in writers:
            writer.close()
