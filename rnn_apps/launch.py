"""``rnn-apps fit ... --workers N``: N local worker processes of one multi-worker run.

Each worker is ``rnn-apps fit`` with the same arguments, ``--set
distribution=multi_worker`` and its own ``TF_CONFIG`` (a cluster of N workers on free
127.0.0.1 ports; worker 0 is the chief). The chief's output is this command's: its
progress on stderr, its JSON on stdout. The others run quiet; their output is shown when
one of them fails.

When a worker fails, the others are stopped (a collective would wait for it in vain).
A worker killed by a signal or crashed is a failure the run survives: the run folder
keeps the last complete epoch, and the cluster is started again, up to ``--restarts``
times, continuing from there (so is the same command, run again). A worker that stops
with one of this package's own errors (exit status 2) is not restarted: its message says
what to change.

This module does not import TensorFlow: the launcher only starts and watches processes.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: seconds a worker is given to end after SIGTERM, before SIGKILL
GRACE_SECONDS = 10.0
#: the exit statuses of a worker that are not restarted: done, this package's own error,
#: interrupted by the user
FINAL = (0, 2, 130)
#: the exit status of a worker that lost another (recipes.core.distributed.PEER_LOST_STATUS)
PEER_LOST = 75
#: seconds to wait for the worker that caused another to lose it
CAUSE_SECONDS = 5.0
#: how TensorFlow's native log lines start (absl: severity and the month-day)
NATIVE = ("E0000", "W0000", "I0000", "F0000")


def free_ports(count: int) -> list[int]:
    """``count`` TCP ports on 127.0.0.1 that are free now."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_config(ports: list[int], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` of a cluster on 127.0.0.1 ``ports``."""
    workers = [f"127.0.0.1:{port}" for port in ports]
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})


def _how_it_ended(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _epochs_done(run_dir: Path) -> str:
    try:
        state = json.loads((run_dir / "state.json").read_text())
        return f"epoch {state['epochs_done']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "no complete epoch yet"


def _stop(processes: list[subprocess.Popen], sig: int = signal.SIGTERM) -> None:
    for process in processes:
        if process.poll() is None:
            with contextlib.suppress(OSError):
                process.send_signal(sig)
    deadline = time.monotonic() + GRACE_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _first_cause(processes: list[subprocess.Popen], first: tuple[int, int]) -> tuple[int, int]:
    """The failure to report, given the ``first`` seen (rank, status). A worker that
    lost another (:data:`PEER_LOST`) points to the one that ended; an error of this
    package on another worker is most often the chief's too (every worker checks the
    same settings and data), and the chief has said it. Each waits up to
    :data:`CAUSE_SECONDS` for the other to end."""
    deadline = time.monotonic() + CAUSE_SECONDS
    while time.monotonic() < deadline:
        codes = [process.poll() for process in processes]
        if first[1] == 2 and codes[0] == 2:
            return 0, 2
        if first[1] == PEER_LOST:
            for rank, code in enumerate(codes):
                if code not in (None, 0, PEER_LOST):
                    return rank, code
        time.sleep(0.1)
    return first


def _error_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    # (TensorFlow's native log lines, "E0000 00:00:...", are left out)
    lines = [line for line in text.splitlines() if line.strip() and line[:5] not in NATIVE]
    errors = [line for line in lines if line.startswith("rnn-apps: error:")]
    return errors or lines[-5:]


def launch(fit_args: list[str], workers: int, restarts: int, run_dir: Path) -> int:
    """Runs ``rnn-apps fit fit_args`` as ``workers`` local workers of one cluster; the
    command's exit status (0: trained; 2: a worker failed and was not restarted)."""
    command = [sys.executable, "-m", "rnn_apps", "fit", *fit_args]
    command += ["--set", "distribution=multi_worker"]
    attempt = 0
    with tempfile.TemporaryDirectory(prefix="rnn-apps-launch-") as scratch:
        while True:
            outcome = _run_cluster(command, workers, Path(scratch), attempt)
            if outcome is None:
                return 0
            rank, code = outcome
            if code == 130:
                return 130
            who = "the chief (worker 0)" if rank == 0 else f"worker {rank}"
            if (
                rank and code > 0 and code != 2
            ):  # the chief's stderr is this command's; another's is shown
                for line in _error_lines(Path(scratch) / f"worker-{rank}.err"):
                    print(f"rnn-apps: {who}: {line}", file=sys.stderr)
            if code not in FINAL and attempt < restarts:
                attempt += 1
                print(
                    f"rnn-apps: {who} {_how_it_ended(code)}; the run folder keeps "
                    f"{_epochs_done(run_dir)}: restarting the {workers} workers "
                    f"(restart {attempt} of {restarts})",
                    file=sys.stderr,
                    flush=True,
                )
                continue
            if code == 2:
                if rank:  # the chief said its own error; another worker's is shown here
                    for line in _error_lines(Path(scratch) / f"worker-{rank}.err"):
                        print(f"rnn-apps: {who}: {line}", file=sys.stderr)
                return 2
            print(
                f"rnn-apps: error: {who} {_how_it_ended(code)}; the run folder {run_dir} "
                f"keeps {_epochs_done(run_dir)}: run the same command again to continue "
                "it (--restarts N restarts the workers by itself).",
                file=sys.stderr,
            )
            return 2


def _run_cluster(
    command: list[str], workers: int, scratch: Path, attempt: int
) -> tuple[int, int] | None:
    """Starts the workers and waits: None when all ended well, else the rank and exit
    status of the first that failed (the others are stopped)."""
    ports = free_ports(workers)
    processes: list[subprocess.Popen] = []
    outputs = []
    try:
        for rank in range(workers):
            # its temporary files (its run folder when not the chief, TensorFlow's) in
            # the launcher's, removed at the end even when the worker was killed
            tmp = scratch / f"worker-{rank}.tmp"
            tmp.mkdir(exist_ok=True)
            env = {**os.environ, "TF_CONFIG": tf_config(ports, rank), "TMPDIR": str(tmp)}
            out = open(scratch / f"worker-{rank}.out", "wb")  # noqa: SIM115 (closed below)
            err = None if rank == 0 else open(scratch / f"worker-{rank}.err", "wb")  # noqa: SIM115
            outputs += [f for f in (out, err) if f is not None]
            quiet = [] if rank == 0 else ["--quiet"]
            processes.append(subprocess.Popen([*command, *quiet], env=env, stdout=out, stderr=err))
        pids = ", ".join(str(p.pid) for p in processes)
        print(
            f"rnn-apps: {'restarted' if attempt else 'started'} {workers} workers on "
            f"127.0.0.1:{','.join(map(str, ports))} (pids {pids}); worker 0 is the chief",
            file=sys.stderr,
            flush=True,
        )
        failed: tuple[int, int] | None = None
        while failed is None and any(p.poll() is None for p in processes):
            for rank, process in enumerate(processes):
                code = process.poll()
                if code not in (None, 0):
                    failed = (rank, code)
                    break
            time.sleep(0.1)
        if failed is not None and (failed[1] == PEER_LOST or (failed[0] and failed[1] == 2)):
            failed = _first_cause(processes, failed)
        if failed is None:
            failed = next(
                ((r, p.returncode) for r, p in enumerate(processes) if p.returncode), None
            )
        if failed is not None:
            _stop(processes)
            return failed
        sys.stdout.write((scratch / "worker-0.out").read_text(encoding="utf-8"))
        sys.stdout.flush()
        return None
    except KeyboardInterrupt:
        _stop(processes, signal.SIGINT)
        return (0, 130)
    finally:
        _stop(processes)
        for f in outputs:
            f.close()
