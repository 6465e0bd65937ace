"""Textbook RNN, GRU and LSTM layers for Keras 3: exact twins of Keras's, compiled loops;
and a linear-chain CRF for tagging."""

from custom_layers.base import FORMULATIONS, RNN, RNNCellBase, fastest_formulation
from custom_layers.crf import CRF, iob2_constraints
from custom_layers.deep import DeepRNN
from custom_layers.gru import GRU, GRUCell
from custom_layers.lstm import LSTM, LSTMCell
from custom_layers.masking import FORBIDDEN, MASKED
from custom_layers.minimal_gru import MinimalGRU, MinimalGRUCell
from custom_layers.simple_rnn import SimpleRNN, SimpleRNNCell

__all__ = [
    "CRF",
    "iob2_constraints",
    "FORBIDDEN",
    "FORMULATIONS",
    "MASKED",
    "fastest_formulation",
    "DeepRNN",
    "GRU",
    "LSTM",
    "RNN",
    "GRUCell",
    "LSTMCell",
    "MinimalGRU",
    "MinimalGRUCell",
    "RNNCellBase",
    "SimpleRNN",
    "SimpleRNNCell",
]
