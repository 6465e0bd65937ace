"""The linear-chain CRF against brute-force enumeration of every tag sequence.

The oracle is independent of the layer: NumPy sums over every tag path of the *kept*
steps of a row (its masked steps removed), so any mask (right-, left-padded, gaps, empty)
must give the CRF of the shorter sequence.
"""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from custom_layers.crf import CRF, iob2_constraints

# rows of masks, 6 steps, at most 4 kept (3**4 paths at most)
MASKS = {
    "right": ["111100", "110000", "100000", "111000"],
    "left": ["001111", "000011", "000001", "000111"],
    "scattered": ["101010", "010011", "100001", "011010"],
    "with_empty_rows": ["000000", "010100", "000000", "110000"],
}


def potentials(crf: CRF):
    """Transitions, start and end scores with the constraints applied, float64."""
    transitions = crf.transitions.numpy().astype("float64")
    start = crf.start_scores.numpy().astype("float64")
    end = crf.end_scores.numpy().astype("float64")
    if crf.allowed_transitions is not None:
        transitions[~np.array(crf.allowed_transitions)] = -1e4
        start[~np.array(crf.allowed_starts)] = -1e4
        end[~np.array(crf.allowed_ends)] = -1e4
    return transitions, start, end


def brute_force(crf: CRF, emissions: np.ndarray):
    """Every tag sequence of ``emissions`` (the kept steps of one row) and its score."""
    transitions, start, end = potentials(crf)
    sequences = list(itertools.product(range(crf.num_tags), repeat=len(emissions)))
    scores = []
    for tags in sequences:
        if not tags:  # no step: one empty sequence, score 0
            scores.append(0.0)
            continue
        score = start[tags[0]] + end[tags[-1]] + sum(emissions[t, y] for t, y in enumerate(tags))
        score += sum(transitions[a, b] for a, b in itertools.pairwise(tags))
        scores.append(score)
    return sequences, np.array(scores, "float64")


def log_sum_exp(scores):
    return np.log(np.sum(np.exp(scores - scores.max()))) + scores.max()


def make(num_tags=3, rows=MASKS["right"], seed=0, **constraints):
    """A built CRF with random weights, random emissions and the mask of ``rows``."""
    rng = np.random.default_rng(seed)
    mask = np.array([[c == "1" for c in row] for row in rows])
    crf = CRF(num_tags, **constraints)
    emissions = rng.normal(size=(*mask.shape, num_tags)).astype("float32")
    crf(emissions, mask)  # builds
    crf.set_weights([rng.normal(size=w.shape).astype("float32") for w in crf.get_weights()])
    return crf, emissions, mask


def check_log_likelihood(crf, emissions, mask, tags, got):
    for b in range(len(mask)):
        sequences, scores = brute_force(crf, emissions[b][mask[b]])
        gold = scores[sequences.index(tuple(tags[b][mask[b]]))]
        expected = gold - log_sum_exp(scores)
        assert got[b] == pytest.approx(expected, rel=1e-5, abs=1e-4), (b, mask[b])


def check_viterbi(crf, emissions, mask, tags, best):
    for b in range(len(mask)):
        sequences, scores = brute_force(crf, emissions[b][mask[b]])
        assert tuple(tags[b][mask[b]]) == sequences[int(scores.argmax())], (b, mask[b])
        assert best[b] == pytest.approx(scores.max(), rel=1e-5, abs=1e-5), (b, mask[b])
        assert np.all(tags[b][~mask[b]] == 0)  # masked steps decode to 0


def gold_minus_marginals(crf, emissions, mask, gold):
    """The gradient of the summed log-likelihood by the emissions, by enumeration."""
    expected = np.zeros(emissions.shape)
    for b in range(len(mask)):
        steps = np.flatnonzero(mask[b])
        sequences, scores = brute_force(crf, emissions[b][steps])
        probabilities = np.exp(scores - log_sum_exp(scores))
        for sequence, p in zip(sequences, probabilities, strict=True):
            for t, y in zip(steps, sequence, strict=True):
                expected[b, t, y] -= p
        expected[b, steps, gold[b, steps]] += 1
    return expected


@pytest.mark.parametrize("padding", sorted(MASKS))
def test_log_likelihood_matches_enumeration_of_the_kept_steps(padding):
    crf, emissions, mask = make(rows=MASKS[padding], seed=1)
    tags = np.random.default_rng(2).integers(0, 3, size=mask.shape)
    got = crf.log_likelihood(emissions, tags, mask).numpy()
    check_log_likelihood(crf, emissions, mask, tags, got)


@pytest.mark.parametrize("padding", sorted(MASKS))
def test_viterbi_matches_enumeration_of_the_kept_steps(padding):
    crf, emissions, mask = make(rows=MASKS[padding], seed=3)
    tags, best = crf.viterbi(emissions, mask)
    check_viterbi(crf, emissions, mask, tags.numpy(), best.numpy())


def test_random_masks_match_enumeration():
    """Random masks of random patterns, likelihood and Viterbi."""
    rng = np.random.default_rng(4)
    rows = []
    for _ in range(8):
        kept = rng.choice(6, size=rng.integers(0, 5), replace=False)
        rows.append("".join("1" if t in kept else "0" for t in range(6)))
    crf, emissions, mask = make(rows=rows, seed=5)
    gold = rng.integers(0, 3, size=mask.shape)
    got = crf.log_likelihood(emissions, gold, mask).numpy()
    check_log_likelihood(crf, emissions, mask, gold, got)
    tags, best = crf.viterbi(emissions, mask)
    check_viterbi(crf, emissions, mask, tags.numpy(), best.numpy())


def test_empty_row_has_zero_loss_and_all_padding_tags():
    crf, emissions, mask = make(rows=MASKS["with_empty_rows"], seed=6)
    tags = np.random.default_rng(7).integers(0, 3, size=mask.shape)
    nll = -crf.log_likelihood(emissions, tags, mask).numpy()
    np.testing.assert_array_equal(nll[[0, 2]], 0.0)
    assert np.all(nll[[1, 3]] > 0)
    decoded, best = crf.viterbi(emissions, mask)
    np.testing.assert_array_equal(decoded.numpy()[[0, 2]], 0)
    np.testing.assert_array_equal(best.numpy()[[0, 2]], 0.0)


def test_masked_steps_do_not_matter():
    """Emissions and gold tags of masked steps (even invalid ids) change nothing."""
    crf, emissions, mask = make(rows=MASKS["scattered"], seed=8)
    rng = np.random.default_rng(9)
    tags = rng.integers(0, 3, size=mask.shape)
    other_emissions = np.where(mask[..., None], emissions, 50 * rng.normal(size=emissions.shape))
    other_tags = np.where(mask, tags, -1)
    np.testing.assert_allclose(
        crf.log_likelihood(other_emissions.astype("float32"), other_tags, mask),
        crf.log_likelihood(emissions, tags, mask),
        rtol=1e-6,
    )
    np.testing.assert_array_equal(
        crf(other_emissions.astype("float32"), mask), crf(emissions, mask)
    )


def test_gradient_is_gold_minus_marginals_and_finite():
    """d log p / d emissions[t, y] = [gold_t = y] - p(y_t = y), 0 at masked steps."""
    rows = MASKS["scattered"] + MASKS["with_empty_rows"][:2]
    crf, emissions, mask = make(rows=rows, seed=10)
    gold = np.random.default_rng(11).integers(0, 3, size=mask.shape)
    x = tf.constant(emissions)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(crf.log_likelihood(x, gold, mask))
    grads = tape.gradient(total, [x, *crf.trainable_weights])
    assert all(np.all(np.isfinite(g)) for g in grads)
    np.testing.assert_allclose(
        grads[0], gold_minus_marginals(crf, emissions, mask, gold), atol=1e-5
    )


def test_constraints_are_never_broken():
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    constraints = iob2_constraints(names)
    rows = ["1111000", "0011100", "1010101", "0000001"]
    crf, emissions, mask = make(num_tags=5, rows=rows, seed=5, **constraints)
    emissions[:, :, [2, 4]] += 3.0  # emissions pull hard towards I- tags
    tags = crf(emissions, mask).numpy()
    for b in range(len(mask)):
        sequence = [names[t] for t in tags[b][mask[b]]]
        assert not sequence[0].startswith("I-")
        for previous, tag in itertools.pairwise(sequence):
            if tag.startswith("I-"):
                assert previous in ("B-" + tag[2:], tag)
        sequences, scores = brute_force(crf, emissions[b][mask[b]])
        assert tuple(tags[b][mask[b]]) == sequences[int(scores.argmax())]


def test_gradients_train_towards_the_gold_tags():
    """A few steps of gradient ascent on the log-likelihood make Viterbi find the gold."""
    crf, emissions, mask = make(rows=MASKS["scattered"], seed=7)
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
    rows = MASKS["left"][:2] + MASKS["scattered"][:1] + MASKS["with_empty_rows"][:1]
    crf, emissions, mask = make(rows=rows, seed=12)
    gold = np.random.default_rng(13).integers(0, 3, size=mask.shape)

    @tf.function(jit_compile=True)
    def compiled(e, m):
        with tf.GradientTape() as tape:
            tape.watch(e)
            log_likelihood = crf.log_likelihood(e, gold, m)
            total = tf.reduce_sum(log_likelihood)
        tags, best = crf.viterbi(e, m)
        grad = tape.gradient(total, e)
        return tags, best, log_likelihood, tf.convert_to_tensor(grad)

    tags, best, log_likelihood, grad = compiled(tf.constant(emissions), tf.constant(mask))
    check_viterbi(crf, emissions, mask, tags.numpy(), best.numpy())
    check_log_likelihood(crf, emissions, mask, gold, log_likelihood.numpy())
    np.testing.assert_allclose(grad, gold_minus_marginals(crf, emissions, mask, gold), atol=1e-5)

    inputs = keras.Input((None, 3))
    model = keras.Model(inputs, crf(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    full = np.ones_like(mask)
    np.testing.assert_array_equal(loaded(emissions).numpy(), crf(emissions, full).numpy())


@pytest.mark.parametrize("padding", sorted(MASKS))
def test_viterbi_converted_to_onnx_matches_enumeration(padding, tmp_path):
    """The Viterbi decoding, converted by tf2onnx and run by onnxruntime, finds the best
    paths of the enumeration (its backward scan must run backwards in ONNX too)."""
    import onnxruntime
    import tf2onnx

    crf, emissions, mask = make(num_tags=4, rows=MASKS[padding], seed=7)
    signature = [
        tf.TensorSpec([None, None, 4], tf.float32, name="emissions"),
        tf.TensorSpec([None, None], tf.bool, name="mask"),
    ]

    @tf.function(input_signature=signature)
    def decode(emissions, mask):
        tags, best = crf.viterbi(emissions, mask)
        return {"tags": tags, "best": best}

    tf2onnx.convert.from_function(
        decode, input_signature=signature, opset=17, output_path=str(tmp_path / "crf.onnx")
    )
    session = onnxruntime.InferenceSession(str(tmp_path / "crf.onnx"))
    tags, best = session.run(["tags", "best"], {"emissions": emissions, "mask": mask})
    check_viterbi(crf, emissions, mask, tags, best)
