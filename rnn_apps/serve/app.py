"""The ASGI application of ``rnn-apps serve`` (Starlette): TensorFlow Serving's REST API for
every model it holds, and a web page per model to try it.

Endpoints (``NAME`` a model, ``/versions/N`` optional after it, as in TensorFlow Serving):

- ``GET /v1/models/NAME``: the version status;
- ``GET /v1/models/NAME/metadata``: each signature's inputs and outputs;
- ``POST /v1/models/NAME:predict``: ``{"instances": [...]}`` or ``{"inputs": ...}``, answered
  with ``{"predictions": [...]}`` or ``{"outputs": ...}``;
- ``POST /v1/models/NAME:answer`` (not part of TensorFlow Serving): the same request,
  answered with ``{"answers": [...]}``, one dict per instance as ``rnn-apps predict``
  prints it (for a model exported by rnn-apps);
- ``GET /``: the models, each with a page ``/models/NAME`` to try it;
- ``GET /v1/models``: the models as JSON (for the pages; not part of TensorFlow Serving).

A bad request is answered ``{"error": "..."}`` with status 400 (404: an unknown model or
version; 413: a body over the limit), never a traceback.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from rnn_apps.serve.batching import Batcher, batchable
from rnn_apps.serve.models import (
    Model,
    RequestError,
    answers,
    parse_request,
    refusal,
    response,
)

PAGES = Path(__file__).resolve().parent / "pages"


class _NotFound(Exception):
    pass


def _error(message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(
    models: list[Model],
    *,
    max_batch: int = 32,
    batch_timeout_ms: float = 2.0,
    max_body_bytes: int = 10 * 2**20,
    max_instances: int = 256,
    batching: bool = True,
) -> Starlette:
    """The server's application for ``models`` (names must differ).

    Args:
        max_batch: most instances run as one batch.
        batch_timeout_ms: how long a request waits for others to share its batch.
        max_body_bytes: larger request bodies are answered 413.
        max_instances: more instances in one request are answered 400.
        batching: False runs every request on its own.
    """
    by_name = {m.name: m for m in models}
    batchers: dict[tuple[str, str], Batcher] = {}
    for model in models:
        for key, signature in model.signatures.items():
            if batching and batchable(signature):
                batchers[model.name, key] = Batcher(signature.call, max_batch, batch_timeout_ms)

    def find(name: str, version: str | None) -> Model:
        model = by_name.get(name)
        if model is None:
            raise _NotFound(
                f"Servable not found for request: Latest({name}); served: {sorted(by_name)}."
            )
        if version is not None and version != str(model.version):
            raise _NotFound(
                f"Servable not found for request: Specific({name}, {version}); "
                f"served version: {model.version}."
            )
        return model

    def split(target: str) -> tuple[str, str | None]:
        name, sep, method = target.rpartition(":")
        return (name, method) if sep else (target, None)

    async def status(request: Request) -> Response:
        name = request.path_params["name"]
        version = request.path_params.get("version")
        try:
            return JSONResponse(find(name, version).status())
        except _NotFound as err:
            return _error(str(err), 404)

    async def metadata(request: Request) -> Response:
        try:
            model = find(request.path_params["name"], request.path_params.get("version"))
        except _NotFound as err:
            return _error(str(err), 404)
        return JSONResponse(model.metadata())

    async def body_of(request: Request) -> bytes:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > max_body_bytes:
            raise RequestError(f"413:The request body is {length} bytes; at most {max_body_bytes}.")
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > max_body_bytes:
                raise RequestError(f"413:The request body is over {max_body_bytes} bytes.")
            chunks.append(chunk)
        return b"".join(chunks)

    async def predict(request: Request) -> Response:
        if "version" in request.path_params:
            name = request.path_params["name"]
            version, method = split(request.path_params["version"])
        else:
            (name, method), version = split(request.path_params["name"]), None
        if method not in ("predict", "answer"):
            return _error(
                f"Unsupported method {method!r} in {request.url.path}; "
                "POST /v1/models/NAME:predict (or :answer).",
                404 if method is None else 400,
            )
        try:
            model = find(name, version)
        except _NotFound as err:
            return _error(str(err), 404)
        try:
            body = await body_of(request)
            key, signature, arrays, kind, count = parse_request(body, model, max_instances)
            batcher = batchers.get((model.name, key))
            if kind == "row" and batcher is not None:
                outputs = await batcher.run(arrays, count)
            else:
                loop = asyncio.get_running_loop()
                outputs = await loop.run_in_executor(None, signature.call, arrays)
            if method == "answer":
                return JSONResponse({"answers": answers(model, signature, arrays, outputs)})
        except RequestError as err:
            message = str(err)
            if message.startswith("413:"):
                return _error(message[4:], 413)
            return _error(message, 400)
        except Exception as err:  # noqa: BLE001 - TensorFlow's errors on bad values
            return _error(f"The model refused the inputs: {refusal(err)}", 400)
        return JSONResponse(response(outputs, kind))

    async def listing(request: Request) -> Response:
        return JSONResponse(
            {
                "models": [
                    {
                        "name": m.name,
                        "version": m.version,
                        "recipe": m.recipe,
                        "signatures": sorted(m.signatures),
                    }
                    for m in models
                ]
            }
        )

    async def index(request: Request) -> Response:
        return FileResponse(PAGES / "index.html")

    async def page(request: Request) -> Response:
        if request.path_params["name"] not in by_name:
            return _error(f"No model {request.path_params['name']!r}; see /.", 404)
        return FileResponse(PAGES / "model.html")

    routes = [
        Route("/", index),
        Route("/models/{name}", page),
        Route("/v1/models", listing),
        Route("/v1/models/{name}/versions/{version}/metadata", metadata),
        Route("/v1/models/{name}/versions/{version}", status, methods=["GET"]),
        Route("/v1/models/{name}/versions/{version}", predict, methods=["POST"]),
        Route("/v1/models/{name}/metadata", metadata),
        Route("/v1/models/{name}", status, methods=["GET"]),
        Route("/v1/models/{name}", predict, methods=["POST"]),
        Mount("/static", StaticFiles(directory=PAGES / "static", check_dir=False), name="static"),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return _error(f"No such endpoint: {request.method} {request.url.path}.", 404)

    async def not_allowed(request: Request, exc: Exception) -> Response:
        return _error(f"{request.method} is not allowed on {request.url.path}.", 405)

    app = Starlette(routes=routes, exception_handlers={404: not_found, 405: not_allowed})
    app.state.batchers = batchers
    return app
