"""Requests per second and latency of ``rnn-apps serve``, with and without server-side
batching, against the same batch run directly in Python (the ceiling).

``--clients`` threads on 127.0.0.1 each send one-instance predict requests, one after the
other, for ``--seconds``; the figures are the median over ``--repeats`` such rounds (after
one warm-up round). The server runs as its own process, as users start it: ``rnn-apps
serve`` with ``--max-batch 32 --batch-timeout-ms 2`` (batching) or ``--max-batch 1`` (none).
The ceiling calls the export's ``serving_default`` in this process on batches of
``--clients`` instances.

By default it serves the sentiment classifier and the translator of
tests/fixtures/runs_0.1.0 (small models, one epoch); ``--sentiment RUN`` and
``--translator RUN`` serve trained runs instead.

Example:
    python benchmarks/serve.py                       # 16 clients, 3 rounds of 5 s
    python benchmarks/serve.py --clients 32 --seconds 10 --translator runs/dates
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests
from machine import cpu_name

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "runs_0.1.0"
INPUTS = {
    "sentiment": ["great superb film", "awful boring plot and poor battery", "fine"],
    "translator": ["3 May 1979", "saturday march 3 2001", "12.10.1999"],
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(paths: list[Path], batching: bool) -> tuple[subprocess.Popen, str]:
    port = free_port()
    limits = ["--max-batch", "32", "--batch-timeout-ms", "2"] if batching else ["--max-batch", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "rnn_apps", "serve", *map(str, paths), "--port", str(port), *limits],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("rnn-apps serve stopped; run it by hand to see why")
        try:
            requests.get(f"{url}/v1/models", timeout=2)
            return process, url
        except requests.ConnectionError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("rnn-apps serve did not answer within 600 s")


def round_of(url: str, model: str, clients: int, seconds: float) -> tuple[float, float, float]:
    """(requests per second, p50 ms, p99 ms) of one round."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds
    texts = INPUTS[model]

    def client(i: int) -> None:
        session = requests.Session()
        mine = []
        n = i
        while time.monotonic() < stop:
            body = json.dumps({"instances": [texts[n % len(texts)]]})
            start = time.perf_counter()
            answer = session.post(f"{url}/v1/models/{model}:predict", data=body, timeout=60)
            mine.append(time.perf_counter() - start)
            answer.raise_for_status()
            n += 1
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    begin = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - begin
    latencies.sort()
    p = lambda q: 1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))]  # noqa: E731
    return len(latencies) / elapsed, p(0.5), p(0.99)


def ceiling(export: Path, model: str, clients: int, seconds: float) -> float:
    """Instances per second of serving_default on batches of ``clients`` in this process."""
    import tensorflow as tf

    function = tf.saved_model.load(str(export)).signatures["serving_default"]
    texts = INPUTS[model]
    batch = tf.constant([texts[i % len(texts)] for i in range(clients)])
    function(text=batch)
    count, stop = 0, time.monotonic() + seconds
    begin = time.monotonic()
    while time.monotonic() < stop:
        function(text=batch)
        count += clients
    return count / (time.monotonic() - begin)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a round")
    parser.add_argument("--repeats", type=int, default=3, help="rounds; the median is shown")
    parser.add_argument("--sentiment", type=Path, default=FIXTURES / "sentiment")
    parser.add_argument("--translator", type=Path, default=FIXTURES / "translator")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="serve-bench-"))
    try:
        paths = []
        for name, run in (("sentiment", args.sentiment), ("translator", args.translator)):
            shutil.copytree(run, work / "runs" / name)
            export = work / "models" / name / "1"
            subprocess.run(
                [sys.executable, "-m", "rnn_apps", "export", str(work / "runs" / name),
                 "--out", str(export)],
                check=True, capture_output=True,
            )  # fmt: skip
            paths.append(export.parent)
        results: dict[tuple[str, str], tuple[float, float, float]] = {}
        for batching in (False, True):
            process, url = start_server(paths, batching)
            try:
                for model in INPUTS:
                    round_of(url, model, args.clients, min(2.0, args.seconds))  # warm-up
                    rounds = [round_of(url, model, args.clients, args.seconds)
                              for _ in range(args.repeats)]  # fmt: skip
                    results[model, "batching" if batching else "one by one"] = tuple(
                        statistics.median(r[i] for r in rounds) for i in range(3)
                    )
            finally:
                process.terminate()
                process.wait(30)
        ceilings = {
            model: statistics.median(
                ceiling(work / "models" / model / "1", model, args.clients, args.seconds)
                for _ in range(args.repeats)
            )
            for model in INPUTS
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{cpu_name()}, {os.cpu_count()} cores; {args.clients} clients on 127.0.0.1, "
          f"median of {args.repeats} rounds of {args.seconds:g} s")  # fmt: skip
    print()
    print("| model | server | requests/s | p50 ms | p99 ms | vs one by one | vs ceiling |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for model in INPUTS:
        base = results[model, "one by one"][0]
        for mode in ("one by one", "batching"):
            rate, p50, p99 = results[model, mode]
            print(f"| {model} | {mode} | {rate:.0f} | {p50:.1f} | {p99:.1f} | "
                  f"{rate / base:.2f} | {rate / ceilings[model]:.2f} |")  # fmt: skip
        top = ceilings[model]
        print(f"| {model} | ceiling: batches of {args.clients} in Python | {top:.0f} instances/s "
              f"| | | {top / base:.2f} | 1.00 |")  # fmt: skip


if __name__ == "__main__":
    main()
