import subprocess
import sys

import pytest

from rnn_apps import __version__
from rnn_apps.cli import main


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rnn-apps {__version__}"
    assert __version__ != "0.0.0+unknown"


def test_help_without_arguments(capsys):
    assert main([]) == 0
    assert "usage: rnn-apps" in capsys.readouterr().out


def test_unknown_option_fails_with_usage():
    result = subprocess.run(
        [sys.executable, "-m", "rnn_apps", "--frobnicate"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "unrecognized arguments: --frobnicate" in result.stderr
