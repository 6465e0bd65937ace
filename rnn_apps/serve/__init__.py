"""``rnn-apps serve``: exported models (or run folders, exported on the fly) behind
TensorFlow Serving's REST API, with a web page per model to try it.

Files: ``models.py`` (finding and loading the models; the request and response bodies),
``batching.py`` (server-side batching), ``app.py`` (the Starlette application: the
endpoints and the pages), ``pages/`` (the HTML, JavaScript and CSS of the pages).
Needs the ``serve`` extra (Starlette, uvicorn).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path


def _check_port(host: str, port: int) -> None:
    """A :class:`UserError` unless this process may listen on ``host:port``."""
    import socket

    from recipes.core.errors import UserError

    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, port))
    except OSError as err:
        raise UserError(
            f"Cannot listen on {host}:{port}: {err.strerror or err}; try another --port."
        ) from None


def serve(
    paths: list[str],
    host: str = "127.0.0.1",
    port: int = 8501,
    *,
    max_batch: int = 32,
    batch_timeout_ms: float = 2.0,
    max_body_bytes: int = 10 * 2**20,
    max_instances: int = 256,
    log=print,
) -> None:
    """Loads the models of ``paths`` and serves them until interrupted."""
    import uvicorn

    from recipes.core.errors import UserError
    from rnn_apps.serve.app import create_app
    from rnn_apps.serve.batching import warm_up
    from rnn_apps.serve.models import load_model

    _check_port(host, port)  # before the models load, which takes a while
    with tempfile.TemporaryDirectory(prefix="rnn-apps-serve-") as exports:
        models = []
        for path in paths:
            model = load_model(path, Path(exports))
            if any(m.name == model.name for m in models):
                raise UserError(
                    f"Two models are named {model.name!r} ({path}); serve folders of "
                    "different names."
                )
            models.append(model)
        app = create_app(
            models,
            max_batch=max_batch,
            batch_timeout_ms=batch_timeout_ms,
            max_body_bytes=max_body_bytes,
            max_instances=max_instances,
            batching=max_batch > 1,
        )
        for (name, key), batcher in app.state.batchers.items():
            start = time.monotonic()
            model = next(m for m in models if m.name == name)
            sizes = warm_up(batcher, model.signatures[key])
            log(
                f"rnn-apps: {name} warmed up at batch sizes {', '.join(map(str, sizes))} "
                f"in {time.monotonic() - start:.1f} s"
            )
        for model in models:
            log(
                f"rnn-apps: serving {model.name} (version {model.version}"
                f"{', ' + model.recipe if model.recipe else ''}) at "
                f"http://{host}:{port}/v1/models/{model.name}"
            )
        log(f"rnn-apps: pages at http://{host}:{port}/ (Ctrl-C stops)")
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False)
        server = uvicorn.Server(config)
        try:
            server.run()
        except SystemExit:  # uvicorn's answer to a failed start (it logged why)
            pass
        if not server.started:
            raise UserError(
                f"Cannot listen on {host}:{port}; is the port in use? Try another --port."
            )
