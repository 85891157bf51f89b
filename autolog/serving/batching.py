"""Concurrent requests answered by one ``predict`` call.

Every prediction runs on one thread, one call at a time. While a call runs, the requests that
arrive queue up, and the next call takes them all together; a lone request that finds others
still being read waits for them at most ``wait`` seconds, and one that finds nobody else
coming goes at once (a single client never waits), straight to the thread when it is idle.
Each request gets its own rows of the output back. The input of a batch is checked against
the signature once, joined, on the prediction thread (checking is most of a one-row
request's cost, and the event loop stays free to read requests meanwhile). A batch whose
input or prediction fails is retried request by request, so that one bad request never fails
the others.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import warnings
from typing import TYPE_CHECKING, Any, NamedTuple

from autolog.errors import InvalidInputError
from autolog.serving.formats import BadRequest, row_count
from autolog.serving.formats import rows as output_rows
from autolog.serving.metrics import Metrics

if TYPE_CHECKING:
    from autolog.predictor import Predictor

__all__ = ["BATCHING_FLAVORS", "BATCHING_LIBRARIES", "Batcher", "first_line", "prepare"]

#: flavors whose models predict each row on its own, so that rows of several requests may
#: share one call
BATCHING_FLAVORS = frozenset(("lightgbm", "xgboost", "torch"))
#: the same for a pickled model, by its class's library (a pickle of anything else may keep
#: state across rows or calls: never batched)
BATCHING_LIBRARIES = frozenset(("sklearn", "lightgbm", "xgboost"))
#: no batch grows past this many rows
MAX_BATCH_ROWS = 4096


class _Item(NamedTuple):
    predictor: Predictor
    data: Any  # as read from the body, not yet checked against the signature
    rows: int
    #: what the data can be joined with (same columns, or rows of lists); None: alone
    key: tuple[Any, ...] | None
    future: asyncio.Future[Any]


class Batcher:
    """Checks input and predicts on its thread, batching where ``wait`` (seconds) allows:
    0 never batches."""

    def __init__(self, wait: float, metrics: Metrics) -> None:
        self.wait = wait
        self.metrics = metrics
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "autolog-serve-predict")
        self._queue: asyncio.Queue[_Item] | None = None
        self._task: asyncio.Task[None] | None = None
        #: requests of /invocations being read: a batch waits for them, not for nobody
        self.arriving = 0
        #: calls on the prediction thread, running or waiting for it
        self._busy = 0

    async def predict(self, predictor: Predictor, data: Any) -> Any:
        """``predictor``'s output on ``data`` (as read from a body), alone or batched.

        Raises:
            BadRequest: ``data`` does not fit the model's signature (400).
            Exception: whatever the model raised.
        """
        loop = asyncio.get_running_loop()
        key, rows = _joinable(data)
        lone = (
            self._busy == 0 and self.arriving <= 0 and (self._queue is None or self._queue.empty())
        )
        if lone or key is None or not self._batches(predictor, rows):
            # straight to the thread, past the queue's hand-offs: while it runs, the event
            # loop goes on reading requests, and those queue up for the next call
            self._busy += 1
            try:
                ok, value, rows = await loop.run_in_executor(
                    self._executor, _alone, predictor, data
                )
            finally:
                self._busy -= 1
            if not ok:
                raise value
            self.metrics.batch(1, rows)
            return value
        if self._queue is None:
            self._queue = asyncio.Queue()
            self._task = loop.create_task(self._run(self._queue))
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.put_nowait(_Item(predictor, data, rows, key, future))
        return await future

    def _batches(self, predictor: Predictor, rows: int) -> bool:
        if self.wait <= 0 or rows >= MAX_BATCH_ROWS:
            return False
        library = type(predictor.model).__module__.partition(".")[0]
        return predictor.flavor in BATCHING_FLAVORS or library in BATCHING_LIBRARIES

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        self._executor.shutdown(wait=False)

    async def _run(self, queue: asyncio.Queue[_Item]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await queue.get()]
            rows = batch[0].rows
            deadline = loop.time() + self.wait
            while rows < MAX_BATCH_ROWS:
                if queue.empty():
                    remaining = deadline - loop.time()
                    if self.arriving <= 0 or remaining <= 0:
                        break
                    try:
                        item = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                else:
                    item = queue.get_nowait()
                batch.append(item)
                rows += item.rows
            await self._answer(loop, batch)

    async def _answer(self, loop: asyncio.AbstractEventLoop, batch: list[_Item]) -> None:
        groups: dict[tuple[Any, ...], list[_Item]] = {}
        for item in batch:
            groups.setdefault((id(item.predictor), item.key), []).append(item)
        for group in groups.values():
            live = [item for item in group if not item.future.done()]
            if not live:
                continue
            self._busy += 1
            try:
                results, shared = await loop.run_in_executor(self._executor, _batch_call, live)
            finally:
                self._busy -= 1
            if shared:
                self.metrics.batch(len(live), sum(item.rows for item in live))
            for item, (ok, value, rows) in zip(live, results, strict=True):
                if not shared and ok:
                    self.metrics.batch(1, rows)
                if item.future.done():
                    continue
                if ok:
                    item.future.set_result(value)
                else:
                    item.future.set_exception(value)


def _joinable(data: Any) -> tuple[tuple[Any, ...] | None, int]:
    """What ``data`` can be joined with, and its rows: a dict of equally long lists joins
    others of the same keys, a list of lists (rows) joins others; anything else (a CSV's
    frame, a flat row) is predicted alone."""
    if isinstance(data, dict):
        lengths = {len(v) if isinstance(v, list) else -1 for v in data.values()}
        if len(lengths) == 1 and min(lengths) > 0:
            # the same kinds of values too: a column of mixed kinds (1 and true) reads as
            # objects, which the check takes more readily than either kind alone
            kinds = tuple((key, frozenset(map(type, values))) for key, values in data.items())
            return ("columns", kinds), lengths.pop()
        return None, 1
    if isinstance(data, list) and data and all(isinstance(row, list) for row in data):
        return ("rows",), len(data)
    return None, 1


def _join(parts: list[Any]) -> Any:
    if isinstance(parts[0], dict):
        return {key: [v for part in parts for v in part[key]] for key in parts[0]}
    return [row for part in parts for row in part]


def prepare(predictor: Predictor, data: Any) -> Any:
    """``data`` checked against ``predictor``'s signature, in the form its model takes.

    Raises:
        BadRequest: it does not fit (400, naming the column or the shape), or has no rows.
    """
    try:
        prepared = predictor.prepare(data)
    except InvalidInputError as exc:
        raise BadRequest(400, "invalid_input", str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise BadRequest(
            400, "invalid_input", f"the input cannot be read: {first_line(exc)}"
        ) from None
    try:
        rows = row_count(prepared)
    except TypeError:
        rows = 1
    if rows == 0:
        raise BadRequest(400, "invalid_input", "the input has no rows")
    return prepared


def first_line(exc: BaseException) -> str:
    """An error's message, one line of at most 300 characters."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= 300 else line[:297] + "..."


def _alone(predictor: Predictor, data: Any) -> tuple[bool, Any, int]:
    """``(ok, output or exception, rows)`` for one request (on the prediction thread)."""
    try:
        prepared = prepare(predictor, data)
        return True, _call(predictor, prepared), row_count(prepared)
    except Exception as exc:
        return False, exc, 0


def _batch_call(items: list[_Item]) -> tuple[list[tuple[bool, Any, int]], bool]:
    """Each item's ``(ok, output or exception, rows)``, and whether they shared one call (on
    the prediction thread). The joined input is checked once; where it or the model fails,
    each item goes alone, so that one bad request fails nobody else."""
    if len(items) > 1:
        predictor = items[0].predictor
        try:
            output = _call(predictor, prepare(predictor, _join([item.data for item in items])))
        except Exception:
            output = None
        if output is not None and _length(output) == sum(item.rows for item in items):
            answers: list[tuple[bool, Any, int]] = []
            start = 0
            for item in items:
                answers.append((True, output_rows(output, start, start + item.rows), item.rows))
                start += item.rows
            return answers, True
    return [_alone(item.predictor, item.data) for item in items], False


def _call(predictor: Predictor, data: Any) -> Any:
    if hasattr(data, "iloc") and _takes_array(predictor.model, data):
        # scikit-learn's checks of a DataFrame cost a millisecond a call; a plain estimator
        # turns it into this very array (its columns are the ones it was fitted on, in order)
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", _NO_NAMES, UserWarning)
            return predictor.predict_prepared(data.to_numpy())
    return predictor.predict_prepared(data)


# scikit-learn's warning for an array given to a model fitted on a frame
_NO_NAMES = "X does not have valid feature names"
# a pipeline, a column transformer or a meta-estimator may pick columns by name
_COMPOSITE = ("steps", "transformers", "estimator", "estimators", "base_estimator")


def _takes_array(model: object, data: Any) -> bool:
    """Whether a scikit-learn ``model`` gives the same output for ``data``'s array as for
    the frame: a plain estimator fitted on these very columns, all numeric."""
    fitted = getattr(model, "feature_names_in_", None)
    if fitted is None or type(model).__module__.partition(".")[0] != "sklearn":
        return False
    if any(hasattr(model, name) for name in _COMPOSITE):
        return False
    if len(fitted) != len(data.columns) or any(
        str(a) != str(b) for a, b in zip(fitted, data.columns, strict=True)
    ):
        return False
    return all(getattr(dtype, "kind", "O") in "fiub" for dtype in data.dtypes)


def _length(output: Any) -> int:
    try:
        return row_count(output)
    except TypeError:
        return -1
