"""The linear-chain CRF against brute-force enumeration of every tag sequence."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from custom_layers.crf import CRF, iob2_constraints


def brute_force(crf: CRF, emissions: np.ndarray, length: int):
    """Scores of every tag sequence of one example: (sequences, scores)."""
    transitions = crf.transitions.numpy().copy()
    start, end = crf.start_scores.numpy().copy(), crf.end_scores.numpy().copy()
    if crf.allowed_transitions is not None:
        transitions[~np.array(crf.allowed_transitions)] = -1e4
        start[~np.array(crf.allowed_starts)] = -1e4
        end[~np.array(crf.allowed_ends)] = -1e4
    sequences = list(itertools.product(range(crf.num_tags), repeat=length))
    scores = []
    for tags in sequences:
        score = start[tags[0]] + end[tags[-1]] + sum(emissions[t, y] for t, y in enumerate(tags))
        score += sum(transitions[a, b] for a, b in itertools.pairwise(tags))
        scores.append(score)
    return sequences, np.array(scores, "float64")


def make(num_tags=3, steps=5, lengths=(5, 2, 1, 4), seed=0, **constraints):
    rng = np.random.default_rng(seed)
    crf = CRF(num_tags, **constraints)
    emissions = rng.normal(size=(len(lengths), steps, num_tags)).astype("float32")
    mask = np.arange(steps)[None, :] < np.array(lengths)[:, None]
    crf(emissions, mask)  # builds
    crf.set_weights([rng.normal(size=w.shape).astype("float32") for w in crf.get_weights()])
    return crf, emissions, mask, lengths


def test_log_likelihood_matches_enumeration():
    crf, emissions, mask, lengths = make()
    rng = np.random.default_rng(1)
    tags = rng.integers(0, 3, size=mask.shape)
    got = crf.log_likelihood(emissions, tags, mask).numpy()
    for b, n in enumerate(lengths):
        sequences, scores = brute_force(crf, emissions[b], n)
        log_z = np.log(np.sum(np.exp(scores - scores.max()))) + scores.max()
        gold = scores[sequences.index(tuple(tags[b, :n]))]
        assert got[b] == pytest.approx(gold - log_z, rel=1e-5, abs=1e-4)


def test_viterbi_matches_enumeration():
    crf, emissions, mask, lengths = make(num_tags=4, seed=3)
    tags, best = crf.viterbi(emissions, mask)
    tags = tags.numpy()
    for b, n in enumerate(lengths):
        sequences, scores = brute_force(crf, emissions[b], n)
        assert tuple(tags[b, :n]) == sequences[int(scores.argmax())]
        assert best.numpy()[b] == pytest.approx(scores.max(), rel=1e-5)
        assert np.all(tags[b, n:] == 0)  # padding


def test_constraints_are_never_broken():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    constraints = iob2_constraints(names)
    crf, emissions, mask, lengths = make(num_tags=5, seed=5, **constraints)
    emissions[:, :, [2, 4]] += 3.0  # emissions pull hard towards I- tags
    tags = crf(emissions, mask).numpy()
    for b, n in enumerate(lengths):
        sequence = [names[t] for t in tags[b, :n]]
        assert not sequence[0].startswith("I-")
        for previous, tag in itertools.pairwise(sequence):
            if tag.startswith("I-"):
                assert previous in ("B-" + tag[2:], tag)
        sequences, scores = brute_force(crf, emissions[b], n)
        assert tuple(tags[b, :n]) == sequences[int(scores.argmax())]


def test_gradients_train_towards_the_gold_tags():
    """A few steps of gradient ascent on the log-likelihood make Viterbi find the gold."""
    crf, emissions, mask, _ = make(seed=7)
    gold = np.random.default_rng(8).integers(0, 3, size=mask.shape)
    emissions = tf.Variable(emissions)
    optimizer = keras.optimizers.Adam(0.1)
    for _ in range(100):
        with tf.GradientTape() as tape:
            loss = -tf.reduce_mean(crf.log_likelihood(emissions, gold, mask))
        variables = [emissions, *crf.trainable_weights]
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables, strict=True))
    tags = crf(emissions, mask).numpy()
    np.testing.assert_array_equal(tags[mask], gold[mask])


def test_compiles_with_xla_and_serializes(tmp_path):
    crf, emissions, mask, _ = make()
    expected = crf(emissions, mask).numpy()
    compiled = tf.function(lambda e, m: crf(e, m), jit_compile=True)
    np.testing.assert_array_equal(compiled(emissions, mask).numpy(), expected)
    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, crf(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    full = np.ones_like(mask)
    np.testing.assert_array_equal(loaded(emissions).numpy(), crf(emissions, full).numpy())
