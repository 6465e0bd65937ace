"""Settings as a user reads and writes them: ``rnn-apps config``, ``fit RECIPE --help``,
the predict options in ``predict --help`` and the generated reference in docs/settings.md,
each run as its own process (``config`` and ``--help`` must not start TensorFlow)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib

import pytest

import recipes
from recipes.core.config import TrainConfig
from tests.test_old_runs import FIXTURES

APPS = tuple(recipes.APPLICATIONS)

#: runs the command line in a fresh process, then says whether TensorFlow was imported
PROBE = (
    "import sys\n"
    "from rnn_apps.cli import main\n"
    "try:\n"
    "    code = main(sys.argv[1:])\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    "sys.stdout.flush()\n"
    "print('\\nTENSORFLOW:', 'tensorflow' in sys.modules, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("app", APPS)
def test_config_prints_every_setting_as_toml_that_reads_back(app, tmp_path):
    done = command("config", app, "--set", "seed=7", "--set", "batch_size=5")
    assert done.returncode == 0, done.stderr
    assert "TENSORFLOW: False" in done.stderr
    parsed = tomllib.loads(done.stdout)  # Python's own TOML reader
    config_class = recipes.config_class(app)
    unset = {k for k in config_class.keys() if getattr(config_class(), k) is None}
    assert set(parsed) == set(config_class.keys()) - unset
    assert parsed["seed"] == 7 and parsed["batch_size"] == 5
    for key in unset:  # a setting that is not set is a comment naming it
        assert f"# {key} = (not set)" in done.stdout
    # every setting is explained: a comment before each key
    for key in parsed:
        before = done.stdout.split(f"\n{key} = ", 1)[0].splitlines()[-1]
        assert before.startswith("# ("), (key, before)
    # the file given back with --config is the same file (and fit reads it: the journey)
    path = tmp_path / f"{app}.toml"
    path.write_text(done.stdout, encoding="utf-8")
    again = command("config", app, "--config", str(path))
    assert again.returncode == 0, again.stderr
    assert again.stdout == done.stdout


def test_config_refuses_a_bad_key_or_value_in_one_line():
    done = command("config", "sentiment", "--set", "unitz=8")
    assert done.returncode == 2
    assert done.stderr.splitlines()[0] == (
        "rnn-apps: error: Unknown config key 'unitz' (did you mean 'units'?)."
    )
    done = command("config", "translator", "--set", "units=0")
    assert done.returncode == 2
    assert "Config key 'units' must be an integer in [1, 16384], got 0." in done.stderr
    done = command("config", "nothing")
    assert done.returncode == 2 and "Unknown recipe 'nothing'" in done.stderr


@pytest.mark.parametrize("app", ["ner", "trigger_word"])
def test_fit_help_lists_the_recipes_settings_without_tensorflow(app):
    done = command("fit", app, "--help")
    assert done.returncode == 0, done.stderr
    assert "TENSORFLOW: False" in done.stderr
    config_class = recipes.config_class(app)
    for key in config_class.keys():
        assert f"\n  {key} = " in done.stdout, key
    own = done.stdout.index("the recipe's own settings:")
    shared = done.stdout.index("training settings (every recipe has them):")
    assert own < shared
    for key in TrainConfig.keys():  # the shared ones come after the recipe's own
        assert done.stdout.index(f"\n  {key} = ") > shared, key


def test_predict_help_shows_each_recipes_options_and_aliases():
    done = command("predict", "--help")
    assert done.returncode == 0, done.stderr
    assert "TENSORFLOW: False" in done.stderr
    text = " ".join(done.stdout.split())
    verbs = command("--help")
    assert verbs.returncode == 0 and "TENSORFLOW: False" in verbs.stderr
    listed = " ".join(verbs.stdout.split())
    for app in APPS:
        config_class = recipes.config_class(app)
        if config_class.task_verb != "predict":
            assert f"{config_class.task_verb}: " in listed and app in listed
        for option in config_class.task_options:
            assert option.flag in text, (app, option.flag)
    assert "--top-k TOP_K" in text and "(char_text, char_music)" in text
    assert "translator: a PNG" in text and "trigger_word: a PNG" in text


def test_a_run_refuses_an_option_of_another_recipe(tmp_path):
    run = tmp_path / "translator"
    shutil.copytree(FIXTURES / "translator", run)  # a run saved by rnn-apps 0.1.0
    done = command("translate", str(run), "1 2", "--top-k", "3")
    assert done.returncode == 2
    assert (
        f"rnn-apps: error: --top-k does not apply to the translator recipe of {run}."
        in done.stderr.splitlines()
    )
    assert done.stdout == ""


def test_the_settings_reference_is_generated_from_the_config_classes():
    done = subprocess.run(
        [sys.executable, "-m", "rnn_apps.docs", "--check"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    from rnn_apps.docs import SETTINGS_FILE

    text = SETTINGS_FILE.read_text(encoding="utf-8")
    for app in APPS:
        config_class = recipes.config_class(app)
        section = text.split(f"\n## {app}\n", 1)[1].split("\n## ", 1)[0]
        for key in config_class.keys():
            assert f"| `{key}` |" in section, (app, key)
    assert json.dumps("vader") in text  # defaults as TOML values
