"""Single-row inference latency: the same LightGBM booster in process and behind MLServer.

Model: LightGBM regression trained here on synthetic data (``--features`` float32 features,
``--trees`` trees of 31 leaves), saved as text and served by MLServer 1.7.1 from its own
virtual environment (tests/fixtures/mlserver.py; made on first use, which takes a minute or
more). Each backend answers ``--calls`` single-row requests in turn, one at a time, after 50
warm-up calls; every answer is checked against ``booster.predict`` on the same row.

* ``booster.predict``: LightGBM's Python call alone, the floor, with LightGBM's default
  OpenMP threads and with one;
* ``InProcessPredictor``: the same through the serving API (inline, one OpenMP thread: one row
  is too small for a worker thread or a fan-out);
* ``RemotePredictor`` → MLServer over the Open Inference Protocol (REST, JSON, keep-alive
  connection, 127.0.0.1), in three server set-ups: the models in the server process with
  ``OMP_NUM_THREADS=1`` (the test fixture's default), MLServer's default of one parallel
  worker process, and LightGBM's default OpenMP threads.

Client and server share the machine's cores, as a sidecar would.

Run from the project root: ``python -m benchmarks.inference [--calls 1000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import lightgbm
import numpy as np

from benchmarks.common import banner, markdown_table
from shopfloor.ml.serving import InProcessPredictor, RemotePredictor
from tests.fixtures.mlserver import MLSERVER_VERSION, SERVER_ENV, mlserver, mlserver_env

WARM_UP = 50
MODEL = "bench-model"
# label, parallel workers, variables for the server's environment
SERVER_SETUPS: list[tuple[str, int, dict[str, str]]] = [
    ("MLServer, model in server process, OMP_NUM_THREADS=1", 0, SERVER_ENV),
    ("MLServer, 1 parallel worker (its default), OMP_NUM_THREADS=1", 1, SERVER_ENV),
    ("MLServer, model in server process, LightGBM's default threads", 0, {}),
]


def train(
    features: int, trees: int, folder: Path, rows: int
) -> tuple[lightgbm.Booster, Path, np.ndarray]:
    """The booster, its model file, and ``rows`` fresh rows to ask it about."""
    rng = np.random.default_rng(11)
    x = rng.normal(size=(5000, features)).astype(np.float32)
    y = 3 * x[:, 0] + np.sin(2 * x[:, 1]) - x[:, 2] * x[:, 3] + rng.normal(scale=0.1, size=5000)
    booster = lightgbm.train(
        {"objective": "regression", "num_leaves": 31, "verbose": -1, "seed": 11},
        lightgbm.Dataset(x, y),
        num_boost_round=trees,
    )
    path = folder / "model.txt"
    booster.save_model(path)
    return booster, path, rng.normal(size=(rows, features)).astype(np.float32)


async def measure(
    predict: Callable[[np.ndarray], Awaitable[np.ndarray]],
    booster: lightgbm.Booster,
    rows: np.ndarray,
    calls: int,
) -> list[float]:
    """Seconds per call, after the warm-up; each answer checked against the booster."""
    expected = booster.predict(rows[: WARM_UP + calls])
    seconds: list[float] = []
    for i in range(WARM_UP + calls):
        row = rows[i : i + 1]
        started = time.perf_counter()
        answer = await predict(row)
        elapsed = time.perf_counter() - started
        if not np.allclose(answer, expected[i : i + 1], rtol=1e-6, atol=1e-6):
            raise AssertionError(f"call {i}: {answer} != {expected[i]}")
        if i >= WARM_UP:
            seconds.append(elapsed)
    return seconds


def summary(label: str, seconds: list[float]) -> list[str]:
    ms = np.asarray(seconds) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return [
        label,
        f"{p50:.3f}",
        f"{p95:.3f}",
        f"{p99:.3f}",
        f"{ms.mean():.3f}",
        f"{len(ms) / ms.sum() * 1000:,.0f}",
    ]


async def run(calls: int, features: int, trees: int) -> list[list[str]]:
    results: list[list[str]] = []
    with tempfile.TemporaryDirectory(prefix="shopfloor-bench-inference-") as folder:
        booster, path, rows = train(features, trees, Path(folder), WARM_UP + calls)

        async def booster_alone(row: np.ndarray) -> np.ndarray:
            return np.asarray(booster.predict(row))

        async def booster_one_thread(row: np.ndarray) -> np.ndarray:
            return np.asarray(booster.predict(row, num_threads=1))

        seconds = await measure(booster_alone, booster, rows, calls)
        results.append(summary("booster.predict, LightGBM's default threads", seconds))
        seconds = await measure(booster_one_thread, booster, rows, calls)
        results.append(summary("booster.predict, num_threads=1", seconds))
        local = InProcessPredictor(booster, model_name=MODEL)
        seconds = await measure(local.predict, booster, rows, calls)
        results.append(summary("InProcessPredictor", seconds))
        for label, workers, variables in SERVER_SETUPS:
            with mlserver({MODEL: path}, parallel_workers=workers, variables=variables) as server:
                async with RemotePredictor(server.base_url, MODEL, timeout_s=5.0) as remote:
                    seconds = await measure(remote.predict, booster, rows, calls)
            results.append(summary(f"RemotePredictor → {label}", seconds))
            print(f"  measured: {label}", flush=True)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.inference", description=__doc__)
    parser.add_argument("--calls", type=int, default=1000, help="single-row calls per backend")
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--trees", type=int, default=100)
    args = parser.parse_args(argv)

    banner("Single-row inference latency: in process vs MLServer")
    started = time.monotonic()
    env = mlserver_env()  # made before any timing starts
    print(f"MLServer {MLSERVER_VERSION} environment: {env} ({time.monotonic() - started:.0f} s)")
    print(
        f"model: LightGBM {lightgbm.__version__}, {args.trees} trees x 31 leaves, "
        f"{args.features} features; {args.calls} single-row calls per backend after "
        f"{WARM_UP} warm-up calls, one at a time\n",
        flush=True,
    )
    rows = asyncio.run(run(args.calls, args.features, args.trees))
    print()
    print(markdown_table(["backend", "p50 ms", "p95 ms", "p99 ms", "mean ms", "calls/s"], rows))


if __name__ == "__main__":
    main()
