"""The models a server holds: SavedModels found from the paths given, their signatures'
metadata, and the request and response bodies of TensorFlow Serving's REST API.

A path is a SavedModel folder, a model folder of numbered versions (``models/ner/1``,
``models/ner/2``: the highest is served, as TensorFlow Serving does), or a run folder of
``rnn-apps fit``, exported on the fly into a temporary folder. A model is named after its
folder (the parent of a numbered version folder).

Request bodies are TensorFlow Serving's: the row format ``{"instances": [...]}`` (one value
per instance for a signature of one input, else one object per instance) and the columnar
format ``{"inputs": ...}`` (a value or an object of named values); strings may be given as
``{"b64": "..."}``. Responses: ``{"predictions": [...]}`` and ``{"outputs": ...}``.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recipes.core.errors import UserError

#: the signature a request without ``signature_name`` runs
DEFAULT_SIGNATURE = "serving_default"


class RequestError(ValueError):
    """A bad request: answered with status 400 and ``{"error": message}``."""


@dataclass
class Signature:
    """One signature of a model: its function and its inputs' and outputs' specs."""

    function: Any
    inputs: dict[str, Any]  # name -> tf.TensorSpec
    outputs: dict[str, Any]

    def call(self, arrays: dict[str, Any]) -> dict[str, Any]:
        """The signature on NumPy arrays (by input name), its outputs as NumPy arrays."""
        import tensorflow as tf

        outputs = self.function(**{n: tf.constant(a) for n, a in arrays.items()})
        return {n: t.numpy() for n, t in outputs.items()}

    def batched(self) -> bool:
        """Whether every input has a batch dimension first (the row format applies)."""
        return all(spec.shape.rank and spec.shape.rank >= 1 for spec in self.inputs.values())


@dataclass
class Model:
    """A served SavedModel: its name, version, signatures and what made it."""

    name: str
    version: int
    path: Path
    signatures: dict[str, Signature]
    recipe: str | None = None  # the rnn-apps recipe that exported it, when known
    loaded: Any = field(default=None, repr=False)

    def signature(self, name: str | None) -> Signature:
        name = name or DEFAULT_SIGNATURE
        if name not in self.signatures:
            raise RequestError(
                f'Serving signature name: "{name}" not found in signature def; '
                f"the model has {sorted(self.signatures)}."
            )
        return self.signatures[name]

    def status(self) -> dict:
        """The body of ``GET /v1/models/NAME``, as TensorFlow Serving answers it."""
        return {
            "model_version_status": [
                {
                    "version": str(self.version),
                    "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""},
                }
            ]
        }

    def metadata(self) -> dict:
        """The body of ``GET /v1/models/NAME/metadata``: each signature's inputs and outputs."""

        from tensorflow.core.framework import types_pb2  # DT_FLOAT, DT_STRING, ...

        def tensors(specs: dict, kind: str, signature: str) -> dict:
            return {
                name: {
                    "dtype": types_pb2.DataType.Name(spec.dtype.as_datatype_enum),
                    "tensor_shape": _shape(spec.shape),
                    "name": f"{signature}_{name}:0" if kind == "inputs" else f"{name}:0",
                }
                for name, spec in specs.items()
            }

        return {
            "model_spec": {"name": self.name, "signature_name": "", "version": str(self.version)},
            "metadata": {
                "signature_def": {
                    "signature_def": {
                        name: {
                            "inputs": tensors(s.inputs, "inputs", name),
                            "outputs": tensors(s.outputs, "outputs", name),
                            "method_name": "tensorflow/serving/predict",
                        }
                        for name, s in self.signatures.items()
                    }
                }
            },
            "rnn_apps": {"recipe": self.recipe},
        }


def _shape(shape) -> dict:
    if shape.rank is None:
        return {"dim": [], "unknown_rank": True}
    return {
        "dim": [{"size": str(-1 if d is None else d), "name": ""} for d in shape.as_list()],
        "unknown_rank": False,
    }


def _version_folders(path: Path) -> list[Path]:
    return sorted(
        (p for p in path.iterdir() if p.is_dir() and p.name.isdigit() and _is_saved_model(p)),
        key=lambda p: int(p.name),
    )


def _is_saved_model(path: Path) -> bool:
    return (path / "saved_model.pb").is_file()


def load_model(path: str | Path, exports: Path | None = None) -> Model:
    """The model at ``path`` (see the module's docstring); a run folder is exported into
    ``exports`` (a temporary folder when None). Bad paths are a :class:`UserError`."""
    import tensorflow as tf

    path = Path(path)
    if not path.exists():
        raise UserError(f"{path} does not exist; give an exported SavedModel or a run folder.")
    name, version, recipe = path.resolve().name, 1, None
    if (path / "run.json").is_file():  # a run folder: export it now
        from recipes.core.runs import load_run

        app = load_run(path)
        target = Path(exports or tempfile.mkdtemp(prefix="rnn-apps-serve-")) / path.name / "1"
        app.export(target)
        saved, recipe = target, app.name
    elif _is_saved_model(path):
        saved = path
        if path.name.isdigit():
            name, version = path.resolve().parent.name, int(path.name)
    elif path.is_dir() and (versions := _version_folders(path)):
        saved = versions[-1]
        version = int(saved.name)
    else:
        raise UserError(
            f"{path} is neither a SavedModel (no saved_model.pb), a folder of numbered "
            "versions, nor a run folder (no run.json); give rnn-apps export's --out or a run."
        )
    info = saved / "assets.extra" / "rnn_apps.json"
    if recipe is None and info.is_file():
        try:
            recipe = json.loads(info.read_text()).get("recipe")
        except (OSError, ValueError, AttributeError):
            recipe = None
    try:
        loaded = tf.saved_model.load(str(saved))
    except (OSError, ValueError, tf.errors.OpError) as err:
        raise UserError(f"{saved}: not a loadable SavedModel ({type(err).__name__}).") from None
    signatures = {}
    for key, function in loaded.signatures.items():
        _, inputs = function.structured_input_signature
        signatures[key] = Signature(function, dict(inputs), dict(function.structured_outputs))
    if not signatures:
        raise UserError(f"{saved} has no serving signatures; export it with rnn-apps export.")
    return Model(name, version, saved, signatures, recipe, loaded)


# -- request and response bodies -----------------------------------------------------------
def _decode(value: Any, spec, where: str):
    """A JSON value as a NumPy array of the input's dtype (b64 objects for bytes)."""
    import numpy as np

    def strings(v):
        if isinstance(v, dict):
            if set(v) != {"b64"} or not isinstance(v["b64"], str):
                raise RequestError(f'{where}: expected a string or {{"b64": ...}}, got {v!r}.')
            try:
                return base64.b64decode(v["b64"], validate=True)
            except ValueError:
                raise RequestError(f"{where}: the b64 value is not base64.") from None
        if isinstance(v, list):
            return [strings(x) for x in v]
        if not isinstance(v, str):
            raise RequestError(f"{where}: expected a string, got {type(v).__name__} {v!r}.")
        return v.encode("utf-8")

    if spec.dtype.name == "string":
        array = np.array(strings(value), dtype=object)
    else:

        def numbers(v):
            if isinstance(v, list):
                return [numbers(x) for x in v]
            if isinstance(v, bool) and spec.dtype.name != "bool":
                raise RequestError(f"{where}: expected a number, got {v!r}.")
            if not isinstance(v, (int, float, bool)):
                raise RequestError(
                    f"{where}: expected {spec.dtype.name} values, got {type(v).__name__} {v!r}."
                )
            return v

        try:
            array = np.array(numbers(value), dtype=spec.dtype.as_numpy_dtype)
        except (ValueError, OverflowError) as err:
            raise RequestError(f"{where}: {err}.") from None
        if array.dtype == object:
            raise RequestError(f"{where}: the rows have different lengths.")
    if not spec.shape.is_compatible_with(array.shape):
        dims = spec.shape.as_list() if spec.shape.rank is not None else None
        expected = (
            "any"
            if dims is None
            else [("batch" if i == 0 else "any") if d is None else d for i, d in enumerate(dims)]
        )
        raise RequestError(
            f"{where}: shape {list(array.shape)} does not fit the input's shape {expected}."
        )
    return array


def _check_count(count: int, max_instances: int) -> None:
    if count > max_instances:
        raise RequestError(
            f"{count} instances in one request; at most {max_instances} "
            "(the server's --max-instances)."
        )


def parse_request(
    body: bytes, model: Model, max_instances: int
) -> tuple[str, Signature, dict, str, int]:
    """A predict request's signature name, signature, input arrays, format ("row" or
    "columnar") and number of instances (0 for columnar)."""
    try:
        request = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise RequestError(f"The request body is not JSON: {err}.") from None
    if not isinstance(request, dict):
        raise RequestError('The request body must be a JSON object: {"instances": [...]}.')
    unknown = set(request) - {"signature_name", "instances", "inputs"}
    if unknown:
        raise RequestError(f"Unknown keys {sorted(unknown)}; expected instances or inputs.")
    if ("instances" in request) == ("inputs" in request):
        raise RequestError('Give exactly one of "instances" (row format) or "inputs" (columnar).')
    name = request.get("signature_name") or DEFAULT_SIGNATURE
    if not isinstance(name, str):
        raise RequestError("signature_name must be a string.")
    signature = model.signature(name)
    names = list(signature.inputs)
    if "instances" in request:
        instances = request["instances"]
        if not isinstance(instances, list) or not instances:
            raise RequestError('"instances" must be a non-empty list.')
        _check_count(len(instances), max_instances)
        if not signature.batched():
            raise RequestError(
                f"The signature {name} has inputs without a batch dimension "
                f"({', '.join(n for n, s in signature.inputs.items() if not s.shape.rank)}): "
                'use the columnar format, {"inputs": {...}}.'
            )
        if len(names) == 1 and not (
            isinstance(instances[0], dict) and set(instances[0]) != {"b64"}
        ):
            columns = {names[0]: instances}
        else:
            for i, instance in enumerate(instances):
                if not isinstance(instance, dict) or set(instance) != set(names):
                    got = (
                        sorted(instance) if isinstance(instance, dict) else type(instance).__name__
                    )
                    raise RequestError(
                        f"Instance {i}: expected an object with the inputs {sorted(names)}, "
                        f"got {got}."
                    )
            columns = {n: [instance[n] for instance in instances] for n in names}
        arrays = {n: _decode(v, signature.inputs[n], f"input {n!r}") for n, v in columns.items()}
        return name, signature, arrays, "row", len(instances)
    inputs = request["inputs"]
    if len(names) == 1 and not (isinstance(inputs, dict) and set(inputs) != {"b64"}):
        inputs = {names[0]: inputs}
    if not isinstance(inputs, dict) or set(inputs) != set(names):
        got = sorted(inputs) if isinstance(inputs, dict) else type(inputs).__name__
        raise RequestError(f'"inputs": expected the inputs {sorted(names)}, got {got}.')
    arrays = {n: _decode(v, signature.inputs[n], f"input {n!r}") for n, v in inputs.items()}
    batch = [len(a) for n, a in arrays.items() if signature.inputs[n].shape.rank]
    if batch:
        _check_count(max(batch), max_instances)
    return name, signature, arrays, "columnar", 0


def _json_value(array) -> Any:
    """A NumPy output as JSON: strings decoded (base64 objects when not UTF-8)."""
    import numpy as np

    if array.dtype == object or array.dtype.kind == "S":

        def text(v):
            if isinstance(v, np.ndarray):
                return [text(x) for x in v]
            try:
                return v.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(v).decode("ascii")}

        return text(array)
    return array.tolist()


def response(outputs: dict, kind: str) -> dict:
    """The response body of a predict request, from the output arrays."""
    if kind == "columnar":
        values = {n: _json_value(a) for n, a in outputs.items()}
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    values = {n: _json_value(a) for n, a in outputs.items()}
    rows = len(next(iter(values.values())))
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    return {"predictions": [{n: v[i] for n, v in values.items()} for i in range(rows)]}


def answers(model: Model, signature: Signature, arrays: dict, outputs: dict) -> list[dict]:
    """One dict per instance, as ``rnn-apps predict`` prints it: the instance's inputs and
    outputs (split along the batch dimension; an input without one is every instance's)
    read by the model's recipe (:func:`recipes.answers`)."""
    if model.recipe is None:
        raise RequestError(
            f"{model.name} records no rnn-apps recipe (assets.extra/rnn_apps.json), so it has "
            "no :answer; use :predict."
        )
    from recipes import answers as answer_of

    answer = answer_of(model.recipe)
    ins = {n: _json_value(a) for n, a in arrays.items()}
    outs = {n: _json_value(a) for n, a in outputs.items()}
    batched_outputs = [n for n, spec in signature.outputs.items() if spec.shape.rank]
    count = len(outs[batched_outputs[0]]) if batched_outputs else 1

    def instance(values: dict, specs: dict, i: int) -> dict:
        return {n: v[i] if specs[n].shape.rank else v for n, v in values.items()}

    try:
        return [
            answer(instance(ins, signature.inputs, i), instance(outs, signature.outputs, i))
            for i in range(count)
        ]
    except UserError as err:  # e.g. the extra that reads the outputs is not installed
        raise RequestError(f"{model.name}:answer: {err}") from None
    except (KeyError, TypeError, ValueError, IndexError) as err:
        raise RequestError(
            f"This export of {model.name} lacks what :answer reads ({type(err).__name__}: "
            f"{err}); export the run again with this rnn-apps, or use :predict."
        ) from None


#: the lines of TensorFlow's error text around the message itself
_NOISE = re.compile(r"Graph execution error:|Detected at node|<stack traces unavailable>|\[\[")


def refusal(err: Exception) -> str:
    """One line saying why TensorFlow refused a request's values: a failed assertion of
    the graph as its message and the values it compared (``n_best must be at most
    beam_width (n_best = 4, beam_width = 3)``), else the error's first line of substance."""
    text = getattr(err, "message", None) or str(err)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if line.startswith("assertion failed:"):
            # "assertion failed: [message] [Condition ...] [x (n_best:0) = ] [4] ..."
            body = line.removeprefix("assertion failed:").strip().replace("\\'", "'")
            parts = body[1:-1].split("] [") if body[:1] + body[-1:] == "[]" else [body]
            message = parts[0]
            values = [
                f"{name.group(1)} = {value}"
                for label, value in zip(parts, parts[1:], strict=False)
                if (name := re.fullmatch(r"\w+ \((\w+)(?::\d+)?\) = ", label))
                and not re.fullmatch(r"Const(_\d+)?", name.group(1))  # a bound, in the message
            ]
            return f"{message} ({', '.join(values)})" if values else message
    kept = [line for line in lines if not _NOISE.match(line)]
    first = kept[0] if kept else type(err).__name__
    return re.sub(r"\s*\[Op:[^\]]*\]$", "", first)
