"""The rnn-apps shell: the `rnn-apps` command line (fit, evaluate, predict, export)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rnn-apps")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
