"""Generated tunes against the training tunes, as a population (docs/results/char_generators.md).

Follows the evaluation of Sturm and Ben-Tal's folk-rnn: beside whether each tune parses,
how the generated tunes are spread over meters, keys and modes, how long they are and how
many repeated parts they have (AABB: two), next to the same shares in the training tunes.
A tune's bars "fit its meter" when music21 parses it and no bar is longer or shorter than
its meter allows, except where music begins or ends (``bars_fit_meter``)::

    python quality/music_population.py --data data/irish.abc --run runs/irish --samples 200

When ``--run`` is not a run folder yet, it is fitted first (``rnn-apps fit char_music`` with
the defaults and any ``--set``). The tunes come from ``rnn-apps generate RUN --samples N
--seed S --grammar on --out RUN/population-S-grammar-on``, and the same with ``--grammar
off`` (the characters as the model draws them, no grammar); every command runs in a fresh
process. Prints the table and writes it, with the shares, to ``population-S.json`` in the
run folder (``generated``: the grammar on; ``unconstrained``: off).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tomllib
from collections import Counter
from pathlib import Path

from _runs import fit, rnn_apps
from music21.stream import Opus

from recipes.char_music.tunes import bars_fit_meter, check_tune, headers, repeats_expand

#: ABC's mode names (the first three letters are enough, any case) -> the mode
MODES = {
    "": "major", "maj": "major", "ion": "major",
    "m": "minor", "min": "minor", "aeo": "minor",
    "dor": "dorian", "mix": "mixolydian", "phr": "phrygian", "lyd": "lydian", "loc": "locrian",
}  # fmt: skip


def key_and_mode(tune: str) -> tuple[str, str]:
    """The tonic (``D``, ``F#``, ...) and the mode of a tune's ``K:`` field; ``none`` when
    it has no key and ``other`` when the mode is not one of ABC's."""
    match = re.match(r"([A-Ga-g][#b]?)\s*([A-Za-z]*)", headers(tune).get("K", ""))
    if not match:
        return "none", "none"
    word = match.group(2).lower()
    return match.group(1).upper(), MODES.get(word if word == "m" else word[:3], "other")


def repeated_parts(tune: str) -> int:
    """How many repeated parts a tune's body has: its repeat ends (``:|``, or ``::`` where
    one part's repeat ends and the next one's begins)."""
    body = tune.split("\nK:", 1)[-1].split("\n", 1)[-1]
    return body.count(":|") + body.count("::")


def population(tunes: list[str]) -> dict:
    """The shares and lengths of a population of tunes."""
    checks = [check_tune(tune) for tune in tunes]
    parsed = [(t, c["score"]) for t, c in zip(tunes, checks, strict=True) if c["parses"]]
    scores = [score for _, score in parsed]
    fitting = [bars_fit_meter(tune, score) for tune, score in parsed]
    expanding = [repeats_expand(score) for _, score in parsed]
    keys = [key_and_mode(tune) for tune in tunes]
    repeats = [repeated_parts(tune) for tune in tunes]
    tunes_alone = [s for s in scores if not isinstance(s, Opus)]  # (an Opus: several X:)
    bars = [len((s.parts[0] if s.parts else s).getElementsByClass("Measure")) for s in tunes_alone]

    def shares(values) -> dict[str, float]:
        counts = Counter(values)
        return {value: count / len(tunes) for value, count in counts.most_common()}

    return {
        "tunes": len(tunes),
        "parse": len(scores) / len(tunes),
        "bars_fit_meter": sum(fitting) / len(tunes),
        "repeats_expand": sum(expanding) / len(tunes),
        "well_formed": sum(f and e for f, e in zip(fitting, expanding, strict=True)) / len(tunes),
        "meter": shares(headers(tune).get("M", "none") for tune in tunes),
        "key": shares(key for key, _ in keys),
        "mode": shares(mode for _, mode in keys),
        "repeated_parts": shares(
            {0: "none", 1: "one", 2: "two (AABB)"}.get(n, "three or more") for n in repeats
        ),
        "median_bars": statistics.median(bars) if bars else 0,
        "median_characters": statistics.median(len(tune) for tune in tunes),
    }


def grammar_bits(run: Path, tunes: list[str]) -> dict:
    """Bits per character of ``tunes`` under the run's model, each tune read from its start
    after the lead-in (a blank line) and through its closing blank line, without and with
    the grammar: with it, each character's probability is the model's renormalized over
    the characters the grammar allows there (what generation draws from). Over the tunes
    the grammar can write (every character allowed); ``in_grammar``: their share."""
    import numpy as np
    import tensorflow as tf

    from recipes.charlm.generation import grammar_functions
    from recipes.core.runs import load_run

    app = load_run(run)
    start, allowed, advance = grammar_functions(app.grammar_tables())
    texts = [app.lead_in + tune.strip("\n") + "\n\n" for tune in tunes]
    rows = [app.encode(text) for text in texts]
    width = max(map(len, rows))
    ids = np.stack([np.pad(r, (0, width - len(r))) for r in rows])
    present = np.stack([np.arange(width) < len(r) for r in rows])

    @tf.function
    def masks(ids):  # [B, T - 1, V]: what the grammar allows after ids[:, : t + 1]
        registers = start(tf.shape(ids)[0])
        out = tf.TensorArray(tf.bool, size=tf.shape(ids)[1] - 1)
        for t in tf.range(tf.shape(ids)[1] - 1):
            registers = advance(registers, ids[:, t])
            out = out.write(t, allowed(registers))
        return tf.transpose(out.stack(), [1, 0, 2])

    ok = masks(tf.constant(ids)).numpy()
    logits = app.model.predict(ids, verbose=0)[:, :-1].astype("float64")
    targets = ids[:, 1:]
    scored = present[:, 1:] & (np.arange(width - 1) >= len(app.lead_in) - 1)  # the tune's
    plain = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    masked = np.where(ok, logits, -np.inf)
    constrained = masked - np.logaddexp.reduce(masked, axis=-1, keepdims=True)
    pick = np.take_along_axis
    fits = pick(ok, targets[..., None], -1)[..., 0] | ~scored
    inside = fits.all(axis=1)
    count = scored[inside].sum()
    bits = {
        name: float(-pick(lp, targets[..., None], -1)[..., 0][inside][scored[inside]].sum())
        / count
        / np.log(2)
        for name, lp in (("without", plain), ("with", constrained))
    }
    return {"in_grammar": float(inside.mean()), "tunes": len(tunes), **bits}


def distance(p: dict[str, float], q: dict[str, float]) -> float:
    """Total variation distance of two share tables: 0 the same, 1 nothing in common."""
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def table(training: dict, *generated: dict) -> str:
    """Training tunes against each population generated (the grammar on, then off); a
    share's distance (total variation) to the training tunes' in brackets."""

    def top(shares: dict[str, float], n: int = 5) -> str:
        return ", ".join(f"{k} {v:.0%}" for k, v in list(shares.items())[:n])

    populations = (training, *generated)
    rows = [
        ["tunes", *(p["tunes"] for p in populations)],
        ["parse with music21", *(f"{p['parse']:.1%}" for p in populations)],
        ["parse, and every bar fits the meter",
         *(f"{p['bars_fit_meter']:.1%}" for p in populations)],
        ["parse, and the repeats expand (MIDI)",
         *(f"{p['repeats_expand']:.1%}" for p in populations)],
        ["all three", *(f"{p['well_formed']:.1%}" for p in populations)],
    ]  # fmt: skip
    for name in ("meter", "key", "mode", "repeated_parts"):
        rows.append([name.replace("_", " "), top(training[name]),
                     *(f"{top(p[name])} (distance {distance(training[name], p[name]):.2f})"
                       for p in generated)])  # fmt: skip
    for name in ("median_bars", "median_characters"):
        rows.append([name.replace("_", " "), *(p[name] for p in populations)])
    head = ["", "training tunes", "generated, grammar on", "generated, grammar off"]
    lines = [head[: len(populations) + 1], ["---"] * (len(populations) + 1), *rows]
    return "\n".join("| " + " | ".join(str(cell) for cell in line) + " |" for line in lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the .abc file trained on")
    parser.add_argument("--run", type=Path, default=Path("runs/irish"))
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if not (args.run / "config.toml").exists():
        fit("char_music", args.data, args.run, args.set)
    generated = {}
    for grammar in ("on", "off"):
        out = args.run / f"population-{args.seed}-grammar-{grammar}"
        rnn_apps("generate", str(args.run), "--samples", str(args.samples), "--seed",
                 str(args.seed), "--grammar", grammar, "--out", str(out))  # fmt: skip
        generated[grammar] = [p.read_text(encoding="utf-8") for p in sorted(out.glob("*.abc"))]

    from recipes import CharMusic  # (TensorFlow) the run's own split of the tunes

    config = tomllib.loads((args.run / "config.toml").read_text(encoding="utf-8"))
    splits = {k: config[k] for k in ("validation_split", "test_split") if k in config}
    training, validation, _ = CharMusic(**splits).load_documents(str(args.data))
    result = {
        "training": population(training),
        "generated": population(generated["on"]),
        "unconstrained": population(generated["off"]),
        "validation_bits": grammar_bits(args.run, validation),
    }
    text = table(result["training"], result["generated"], result["unconstrained"])
    bits = result["validation_bits"]
    text += (
        f"\n\nbits per character of the {bits['tunes']} validation tunes, each read from its "
        f"start ({bits['in_grammar']:.0%} of them in the grammar, scored): "
        f"{bits['without']:.3f} without the grammar, {bits['with']:.3f} with it"
    )
    print(text)
    result["table"] = text
    (args.run / f"population-{args.seed}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
