"""Training throughput and latency of custom_layers against their keras.layers twins.

Each custom layer and its Keras twin are trained in the same process, with the same
model (layer -> Dense(1), MSE, Adam), data and configuration, with ``jit_compile`` off
and on. Every formulation of the custom layers is measured (``fused``, ``per_gate``,
``concat``; see ``custom_layers.RNNCellBase.prepare``) and so is ``auto``, the one the
layers pick by themselves. Throughput is sequences per second of full training steps
(forward, backward, optimizer), the median of ``--epochs`` timed epochs after one
warm-up epoch (which includes compilation).

Examples:
    python benchmarks/layers.py                      # both configurations, all layers
    python benchmarks/layers.py --quick              # small configuration, a minute
    python benchmarks/layers.py --device gpu         # XLA custom vs cuDNN Keras
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from machine import cpu_name  # noqa: E402

import custom_layers as cl  # noqa: E402

CONFIGS = {
    "large": dict(batch=64, steps=100, inputs=64, units=256, batches=8),
    "small": dict(batch=32, steps=50, inputs=32, units=64, batches=32),
}
# layer name -> (custom class, Keras twin or None, number of gate blocks)
LAYERS = {
    "LSTM": (cl.LSTM, keras.layers.LSTM, 4),
    "GRU": (cl.GRU, keras.layers.GRU, 3),
    "SimpleRNN": (cl.SimpleRNN, keras.layers.SimpleRNN, 1),
    "MinimalGRU": (cl.MinimalGRU, None, 2),
}


@dataclass
class Result:
    config: str
    layer: str
    variant: str  # "keras" or a formulation of ours ("auto", "fused", ...)
    jit: bool
    seq_per_s: float
    gflops: float


def device_name(device: str) -> str:
    if device == "gpu":
        details = tf.config.experimental.get_device_details(
            tf.config.list_physical_devices("GPU")[0]
        )
        return details.get("device_name", "GPU")
    return f"{cpu_name()}, {os.cpu_count()} logical cores"


def training_flops_per_sequence(cfg: dict, gates: int) -> float:
    """Forward step 2*(D+H)*G*H per sample (LSTM: G=4); training about 3x; times T."""
    return 3 * 2 * (cfg["inputs"] + cfg["units"]) * gates * cfg["units"] * cfg["steps"]


@functools.cache
def matmul_seconds(m: int, k: int, n: int) -> float:
    """Seconds per ``(m,k)@(k,n)`` float32 product in a compiled loop of dependent products.

    Each product feeds the next one (as a recurrence does), so none can be skipped,
    hoisted or run beside another; the loop's own cost per iteration is included. The
    loop runs enough products for about 1 GFLOP (5 to 4000), timed 5 times after a
    warm-up; the median is kept.
    """
    repeats = int(min(4000, max(5, 1e9 / (2 * m * k * n))))
    a = tf.random.normal((m, k))
    b = tf.random.normal((k, n)) / k

    @tf.function(jit_compile=True)
    def chain(a, b):
        def body(i, acc):
            return i + 1, acc + tf.matmul(a + acc[:, :1], b)

        return tf.while_loop(lambda i, _: i < repeats, body, (0, tf.zeros((m, n))))[1]

    chain(a, b).numpy()
    times = []
    for _ in range(5):
        start = time.perf_counter()
        chain(a, b).numpy()
        times.append(time.perf_counter() - start)
    return statistics.median(times) / repeats


def matmul_gflops(m: int, k: int, n: int) -> float:
    """Measured GFLOP/s of a compiled float32 ``(m,k)@(k,n)`` matmul chain."""
    return 2 * m * k * n / matmul_seconds(m, k, n) / 1e9


def peak_gflops() -> float:
    """The machine's matmul rate: a compiled 1024x1024x1024 float32 product, all cores."""
    return matmul_gflops(1024, 1024, 1024)


def training_floor(cfg: dict, gates: int) -> float:
    """Sequences/s that no implementation of the layer can beat on this machine.

    A training step can take no less than the longer of two times, both measured here:
    - its arithmetic, 3 x 2*B*T*(D+H)*G*H FLOPs (forward and backward), done at the
      rate of a large matmul (:func:`peak_gflops`);
    - its chain of dependent products: T recurrent products ``(B,H)@(H,G*H)`` forward
      and T ``(B,G*H)@(G*H,H)`` backward, one after the other, each at the rate of a
      compiled loop of such products (:func:`matmul_seconds`).
    Everything else (elementwise work, the optimizer) is left out.
    """
    b, t, d, h = cfg["batch"], cfg["steps"], cfg["inputs"], cfg["units"]
    flops = 3 * 2 * b * t * (d + h) * gates * h
    chain = t * (matmul_seconds(b, h, gates * h) + matmul_seconds(b, gates * h, h))
    return b / max(flops / (peak_gflops() * 1e9), chain)


def latency_floor_ms(cfg: dict, gates: int) -> float:
    """ms of one sequence (batch 1) that no implementation can beat on this machine.

    The longer of the forward pass's arithmetic, 2*T*(D+H)*G*H FLOPs at the rate of a
    large matmul, and its chain of T dependent products ``(1,H)@(H,G*H)``, each at the
    rate of a compiled loop of such products.
    """
    t, d, h = cfg["steps"], cfg["inputs"], cfg["units"]
    flops = 2 * t * (d + h) * gates * h
    chain = t * matmul_seconds(1, h, gates * h)
    return 1e3 * max(flops / (peak_gflops() * 1e9), chain)


def build_model(make_layer, cfg: dict, batch_size: int | None = None) -> keras.Model:
    """Layer -> Dense(1) on ``(steps, inputs)`` sequences (``batch_size``: static, or None)."""
    inputs = keras.Input((cfg["steps"], cfg["inputs"]), batch_size=batch_size)
    return keras.Model(inputs, keras.layers.Dense(1)(make_layer()(inputs)))


class Trainer:
    """One compiled model; an "epoch" is ``batches`` training steps on in-memory batches.

    ``train_on_batch`` on tensors already in memory: a ``tf.data`` pipeline's prefetch
    threads would compete with the model for the cores and make the timings bimodal.
    """

    def __init__(self, make_layer, cfg: dict, jit: bool, batches: int):
        rng = np.random.default_rng(0)
        shape = (cfg["batch"], cfg["steps"], cfg["inputs"])
        self.data = [
            (
                tf.constant(rng.standard_normal(shape), tf.float32),
                tf.constant(rng.standard_normal((cfg["batch"], 1)), tf.float32),
            )
            for _ in range(batches)
        ]
        self.sequences = cfg["batch"] * batches
        self.model = build_model(make_layer, cfg, cfg["batch"])
        self.model.compile(keras.optimizers.Adam(1e-3), "mse", jit_compile=jit)
        self.times: list[float] = []

    def epoch(self) -> float:
        start = time.perf_counter()
        for x, y in self.data:
            loss = self.model.train_on_batch(x, y)
        float(loss)
        elapsed = time.perf_counter() - start
        self.times.append(elapsed)
        return elapsed

    def throughput(self) -> float:
        """Sequences per second: median over the timed epochs (the first is warm-up)."""
        return self.sequences / statistics.median(self.times[1:])


def train_throughputs(makers: dict, cfg: dict, epochs: int, batches: int) -> dict:
    """Sequences/s of every ``(variant, jit) -> layer factory`` in ``makers``.

    The variants take turns, one epoch each per round, so that a slow spell of the
    machine hits all of them alike and the ratios stay fair.
    """
    trainers = {key: Trainer(make, cfg, key[1], batches) for key, make in makers.items()}
    for _ in range(epochs + 1):
        for trainer in trainers.values():
            trainer.epoch()
    return {key: trainer.throughput() for key, trainer in trainers.items()}


def forward_function(make_layer, cfg: dict, jit: bool):
    """A traced forward pass of a fresh model (inference, ``training=False``)."""
    model = build_model(make_layer, cfg)
    return tf.function(lambda x: model(x, training=False), jit_compile=jit)


def latencies_ms(makers: dict, cfg: dict, calls: int) -> dict:
    """Median ms of one forward pass of one sequence, for every ``key -> factory``.

    Every function is traced and run twice first; then the calls are interleaved (each
    function once per round, ``calls`` rounds), so that a slow spell of the machine
    hits all of them alike.
    """
    x = tf.random.normal((1, cfg["steps"], cfg["inputs"]))
    functions = {key: forward_function(make, cfg, key[1]) for key, make in makers.items()}
    for forward in functions.values():
        forward(x).numpy()
        forward(x).numpy()
    times: dict = {key: [] for key in functions}
    for _ in range(calls):
        for key, forward in functions.items():
            start = time.perf_counter()
            forward(x).numpy()
            times[key].append(time.perf_counter() - start)
    return {key: 1e3 * statistics.median(t) for key, t in times.items()}


def variants(layer: str, device: str, formulations: list[str]):
    """(variant name, jit settings, layer factory) for one layer kind."""
    ours, twin, _ = LAYERS[layer]
    jits = [True] if device == "gpu" else [False, True]
    for formulation in formulations:
        yield formulation, jits, (lambda cfg, f=formulation: ours(cfg["units"], implementation=f))
    if twin is not None:
        # Keras's layers use cuDNN on a GPU, which XLA cannot compile
        keras_jits = [False] if device == "gpu" else [False, True]
        yield "keras", keras_jits, (lambda cfg: twin(cfg["units"]))


def run(args) -> dict:
    results: list[Result] = []
    latencies: list[dict] = []
    for config in args.configs:
        cfg = CONFIGS[config]
        batches = args.batches or cfg["batches"]
        for layer in args.layers:
            flops = training_flops_per_sequence(cfg, LAYERS[layer][2])
            keras.utils.set_random_seed(0)
            makers, jits_of = {}, {}
            for variant, jits, factory in variants(layer, args.device, args.formulations):
                jits_of[variant] = (jits, functools.partial(factory, cfg))
                for jit in jits:
                    makers[(variant, jit)] = functools.partial(factory, cfg)
            speeds = train_throughputs(makers, cfg, args.epochs, batches)
            for (variant, jit), speed in speeds.items():
                results.append(Result(config, layer, variant, jit, speed, speed * flops / 1e9))
                print(
                    f"  {config:5s} {layer:10s} {variant:8s} jit={'on ' if jit else 'off'} "
                    f"{speed:9.1f} seq/s",
                    file=sys.stderr,
                    flush=True,
                )
            if args.no_latency:
                continue
            inference = {}
            for variant, (jits, make) in jits_of.items():
                for jit in jits:
                    inference[(variant, jit)] = make
            for (variant, jit), ms in latencies_ms(inference, cfg, args.calls).items():
                latencies.append(dict(config=config, layer=layer, variant=variant, jit=jit, ms=ms))
    return {"results": [asdict(r) for r in results], "latency": latencies}


def best(results: list[dict], config: str, layer: str, pick) -> dict | None:
    rows = [r for r in results if r["config"] == config and r["layer"] == layer and pick(r)]
    return max(rows, key=lambda r: r["seq_per_s"]) if rows else None


def report(data: dict, args) -> str:
    results, lines = data["results"], []
    lines.append(
        f"Device: {data['device']}; TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
    lines.append(
        f"Measured matmul: {data['matmul_peak']:.0f} GFLOP/s (1024x1024x1024), "
        + ", ".join(f"{v:.0f} GFLOP/s {k}" for k, v in data["matmul_recurrent"].items())
    )
    lines.append("")
    lines.append("Training throughput, sequences/s (median of epochs; best jit setting of each):")
    lines.append(
        "| config | layer | Keras | custom (auto) | ratio | custom best (formulation, jit) "
        "| GFLOP/s auto |"
    )
    lines.append("|" + "---|" * 7)
    for config in args.configs:
        for layer in args.layers:
            top = best(results, config, layer, lambda r: r["variant"] != "keras")
            # without an "auto" run, the best formulation stands in for it
            auto = best(results, config, layer, lambda r: r["variant"] == "auto") or top
            twin = best(results, config, layer, lambda r: r["variant"] == "keras")
            ratio = f"{auto['seq_per_s'] / twin['seq_per_s']:.2f}x" if twin else "n/a"
            keras_cell = (
                f"{twin['seq_per_s']:.0f} (jit {'on' if twin['jit'] else 'off'})"
                if twin
                else "no twin"
            )
            lines.append(
                f"| {config} | {layer} | {keras_cell} | {auto['seq_per_s']:.0f} "
                f"(jit {'on' if auto['jit'] else 'off'}) | {ratio} | {top['seq_per_s']:.0f} "
                f"({top['variant']}, jit {'on' if top['jit'] else 'off'}) | {auto['gflops']:.0f} |"
            )
    lines += every_table("Every measurement, sequences/s:", results, "seq_per_s", "{:.0f}", args)
    if data["latency"]:
        lines += latency_report(data["latency"], args)
    if data.get("roofline"):
        lines += roofline_report(data, args)
    return "\n".join(lines)


def every_table(title: str, rows: list[dict], field: str, fmt: str, args) -> list[str]:
    """A table of ``field`` of every (variant, jit) measured, one line per config and layer."""
    seen = sorted({(r["variant"], r["jit"]) for r in rows}, key=lambda v: (v[0] == "keras", v))
    lines = [
        "",
        title,
        "| config | layer | "
        + " | ".join(f"{v} jit {'on' if j else 'off'}" for v, j in seen)
        + " |",
        "|" + "---|" * (2 + len(seen)),
    ]
    for config in args.configs:
        for layer in args.layers:
            cells = []
            for v, j in seen:
                row = [
                    r
                    for r in rows
                    if (r["config"], r["layer"], r["variant"], r["jit"]) == (config, layer, v, j)
                ]
                cells.append(fmt.format(row[0][field]) if row else "-")
            lines.append(f"| {config} | {layer} | " + " | ".join(cells) + " |")
    return lines


def fastest(rows: list[dict], pick) -> dict | None:
    chosen = [r for r in rows if pick(r)]
    return min(chosen, key=lambda r: r["ms"]) if chosen else None


def latency_report(latency: list[dict], args) -> list[str]:
    lines = [
        "",
        f"Inference latency, one sequence (batch 1), ms (median of {args.calls} interleaved "
        "calls; best jit setting of each):",
        "| config | layer | Keras | custom (auto) | Keras / custom | custom best "
        "(formulation, jit) |",
        "|" + "---|" * 6,
    ]
    for config in args.configs:
        for layer in args.layers:
            rows = [r for r in latency if (r["config"], r["layer"]) == (config, layer)]
            ours = fastest(rows, lambda r: r["variant"] == "auto")
            top = fastest(rows, lambda r: r["variant"] != "keras")
            twin = fastest(rows, lambda r: r["variant"] == "keras")
            ours = ours or top
            if ours is None:
                continue
            twin_cell = (
                f"{twin['ms']:.3f} (jit {'on' if twin['jit'] else 'off'})" if twin else "no twin"
            )
            ratio = f"{twin['ms'] / ours['ms']:.2f}x" if twin else "n/a"
            lines.append(
                f"| {config} | {layer} | {twin_cell} | {ours['ms']:.3f} (jit "
                f"{'on' if ours['jit'] else 'off'}) | {ratio} | {top['ms']:.3f} "
                f"({top['variant']}, jit {'on' if top['jit'] else 'off'}) |"
            )
    return lines + every_table("Every latency, ms:", latency, "ms", "{:.3f}", args)


def roofline_report(data: dict, args) -> list[str]:
    """The roofline block: each layer's speed as a share of its matmul-only floor."""
    lines = [
        "",
        "Roofline: each layer against the floor no implementation can beat here, timed in "
        "this run (the longer of its FLOPs at the large-matmul rate and its chain of "
        "dependent products; share = floor time / layer time):",
        "| config | layer | training floor (seq/s) | custom auto | share | Keras | share "
        "| latency floor (ms) | custom auto | share | Keras | share |",
        "|" + "---|" * 12,
    ]
    for row in data["roofline"]:
        config, layer = row["config"], row["layer"]
        late = [r for r in data["latency"] if (r["config"], r["layer"]) == (config, layer)]
        ours_t = best(data["results"], config, layer, lambda r: r["variant"] == "auto")
        twin_t = best(data["results"], config, layer, lambda r: r["variant"] == "keras")
        ours_l = fastest(late, lambda r: r["variant"] == "auto")
        twin_l = fastest(late, lambda r: r["variant"] == "keras")

        def speed(r, floor=row["training_floor"]):
            if r is None:
                return "-", "-"
            return f"{r['seq_per_s']:.0f}", f"{r['seq_per_s'] / floor:.0%}"

        def ms(r, floor=row["latency_floor_ms"]):
            if r is None:
                return "-", "-"
            return f"{r['ms']:.3f}", f"{floor / r['ms']:.0%}"

        cells = [
            f"{row['training_floor']:.0f}",
            *speed(ours_t),
            *speed(twin_t),
            f"{row['latency_floor_ms']:.3f}",
            *ms(ours_l),
            *ms(twin_l),
        ]
        lines.append(f"| {config} | {layer} | " + " | ".join(cells) + " |")
    return lines


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "gpu"], default="cpu")
    parser.add_argument("--configs", nargs="+", choices=sorted(CONFIGS), default=["large", "small"])
    parser.add_argument("--layers", nargs="+", choices=list(LAYERS), default=list(LAYERS))
    parser.add_argument(
        "--formulations",
        nargs="+",
        choices=["auto", *cl.FORMULATIONS],
        default=["auto", *cl.FORMULATIONS],
    )
    parser.add_argument("--epochs", type=int, default=5, help="timed epochs (after one warm-up)")
    parser.add_argument(
        "--batches", type=int, default=0, help="batches per epoch (default: 8 large, 32 small)"
    )
    parser.add_argument("--no-latency", action="store_true", help="skip the latency table")
    parser.add_argument(
        "--calls", type=int, default=200, help="timed batch-1 calls of each variant (interleaved)"
    )
    parser.add_argument(
        "--roofline",
        action="store_true",
        help="also time each layer's floor (its matmuls alone) and report the layers' share",
    )
    parser.add_argument("--json", help="also write every measurement to this JSON file")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small configuration, LSTM and GRU, auto only, 3 epochs",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.configs, args.layers, args.formulations = ["small"], ["LSTM", "GRU"], ["auto"]
        args.epochs, args.batches, args.calls = 3, 16, 50
    if args.epochs < 1 or args.batches < 0 or args.calls < 1:
        parser.error("--epochs and --calls must be positive and --batches not negative")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "gpu" and not tf.config.list_physical_devices("GPU"):
        print(
            "benchmarks/layers.py: --device gpu, but TensorFlow sees no GPU; run without --device.",
            file=sys.stderr,
        )
        return 2
    if args.device == "cpu":
        tf.config.set_visible_devices([], "GPU")
    data = {
        "device": device_name(args.device),
        "matmul_peak": peak_gflops(),
        "matmul_recurrent": {
            f"({c['batch']}x{c['units']})@({c['units']}x{4 * c['units']})": matmul_gflops(
                c["batch"], c["units"], 4 * c["units"]
            )
            for c in (CONFIGS[name] for name in args.configs)
        },
    }
    data.update(run(args))
    if args.roofline:
        data["roofline"] = [
            dict(
                config=config,
                layer=layer,
                training_floor=training_floor(CONFIGS[config], LAYERS[layer][2]),
                latency_floor_ms=latency_floor_ms(CONFIGS[config], LAYERS[layer][2]),
            )
            for config in args.configs
            for layer in args.layers
        ]
    print(report(data, args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
