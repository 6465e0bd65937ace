"""Property test: random shapes and options, our layers equal Keras's."""

import keras
import numpy as np
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

import custom_layers as cl
from tests.helpers import TWINS


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    name=st.sampled_from(sorted(TWINS)),
    formulation=st.sampled_from(cl.FORMULATIONS),
    batch=st.integers(1, 4),
    steps=st.integers(1, 9),
    features=st.integers(1, 7),
    units=st.integers(1, 9),
    go_backwards=st.booleans(),
    lengths_seed=st.integers(0, 2**16),
)
def test_random_shapes_match_keras(
    name, formulation, batch, steps, features, units, go_backwards, lengths_seed
):
    rng = np.random.default_rng(lengths_seed)
    ours_cls, theirs_cls, extra = TWINS[name]
    kwargs = dict(return_sequences=True, go_backwards=go_backwards, **extra)
    theirs = theirs_cls(units, **kwargs)
    ours = ours_cls(units, implementation=formulation, **kwargs)
    theirs.build((None, None, features))
    ours.build((None, None, features))
    theirs.set_weights([0.5 * rng.standard_normal(w.shape) for w in theirs.get_weights()])
    ours.set_weights(theirs.get_weights())
    x = rng.standard_normal((batch, steps, features)).astype("float32")
    lengths = rng.integers(1, steps + 1, size=batch)
    mask = tf.constant(np.arange(steps)[None, :] < lengths[:, None])
    np.testing.assert_allclose(ours(x, mask=mask), theirs(x, mask=mask), atol=1e-5, rtol=0)
    keras.backend.clear_session()
