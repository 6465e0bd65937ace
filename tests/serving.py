"""``rnn-apps serve`` for the tests, started as a user starts it: its own process, on a free
port of 127.0.0.1, waited for until it answers ``GET /v1/models``, stopped at the end."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "rnn_apps", "serve", *args]


@contextlib.contextmanager
def serving(paths: list[Path], log: Path, *options: str, timeout: float = 300) -> Iterator[str]:
    """``rnn-apps serve PATHS --port P OPTIONS`` running, its output in ``log``: the base URL."""
    port = free_port()
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    url = f"http://127.0.0.1:{port}"
    with log.open("w") as out:
        process = subprocess.Popen(
            serve_command(*map(str, paths), "--port", str(port), *options),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    pytest.fail(f"rnn-apps serve exited: {log.read_text()[-3000:]}")
                try:
                    with urllib.request.urlopen(f"{url}/v1/models", timeout=5):
                        break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() > deadline:
                        pytest.fail(f"rnn-apps serve did not answer GET /v1/models in {timeout} s")
                    time.sleep(0.5)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
