"""The README, docs/ and examples/ as a reader uses them: every Python block runs (or, when
marked ``<!-- not run: ... -->``, its names are checked), every ``rnn-apps`` line parses
with the real command line and names real settings, every relative link leads to a file,
every example config is accepted and every example script runs on tiny arguments."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import recipes
from rnn_apps.cli import _fit_recipe, build_parser
from tests.docs_blocks import ROOT, blocks, pages

PAGES = pages()
PYTHON_PAGES = [p for p in PAGES if any(b.language == "python" for b in blocks(p))]
SHELL = ("bash", "sh", "shell", "console")
#: where a shell line stops being the command's own arguments
OPERATORS = {"|", "||", "&&", ";", ">", ">>", "<", "2>", "2>&1", "&"}
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _name(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


def fresh_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=_name)
def test_python_blocks_run(page, tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "docs_blocks.py"), str(page)],
        cwd=tmp_path,
        env=fresh_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]


def command_lines() -> list[tuple[str, list[str]]]:
    """Every ``rnn-apps`` command in the pages' shell blocks: (where, its arguments)."""
    found = []
    for page in PAGES:
        for block in blocks(page):
            if block.language not in SHELL:
                continue
            for offset, line in enumerate(block.code.splitlines()):
                try:
                    words = shlex.split(line.strip().removeprefix("$ "), comments=True)
                except ValueError:  # a quote spanning lines (python -c "...")
                    assert "rnn-apps " not in line, f"{block.where}+{offset}: {line}"
                    continue
                for i, word in enumerate(words):  # also after `cd x &&` or `.venv/bin/`
                    if word.endswith("rnn-apps") and (i == 0 or words[i - 1] in OPERATORS):
                        args = []
                        for arg in words[i + 1 :]:
                            if arg in OPERATORS or arg.startswith(("2>", ">")):
                                break
                            args.append(arg)
                        found.append((f"{block.where}+{offset}", args))
    return found


COMMANDS = command_lines()


def test_the_docs_show_commands():
    verbs = {args[0] for _, args in COMMANDS if args}
    assert {"fit", "evaluate", "predict", "export", "config", "runs", "recipes", "serve"} <= verbs


@pytest.mark.parametrize(("where", "args"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_command_lines_parse(where, args):
    parser = build_parser(fit_recipe=_fit_recipe(args))
    try:
        parsed, extra = parser.parse_known_args(args)
    except SystemExit as done:
        assert done.code == 0, f"{where}: rnn-apps {shlex.join(args)} does not parse"
        return  # --help
    inputs = getattr(parsed, "inputs", None)
    assert not extra or (inputs is not None and not any(e.startswith("-") for e in extra)), (
        f"{where}: unknown arguments {extra}"
    )
    if parsed.verb in ("fit", "config"):
        assert parsed.recipe in recipes.APPLICATIONS, f"{where}: no recipe {parsed.recipe}"
        keys = set(recipes.config_class(parsed.recipe).keys())
        for pair in parsed.set:
            key = pair.partition("=")[0]
            assert key in keys, f"{where}: {parsed.recipe} has no setting {key!r}"


def test_relative_links_lead_to_files():
    broken = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for target in LINK.findall(text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            path = (page.parent / target.split("#", 1)[0]).resolve()
            if not path.exists():
                broken.append(f"{_name(page)}: {target}")
    assert not broken, broken


def test_every_recipe_has_a_page_an_example_config_and_a_results_link():
    for name in recipes.APPLICATIONS:
        page = ROOT / "docs" / "apps" / f"{name}.md"
        assert page.is_file(), page
        text = page.read_text(encoding="utf-8")
        assert f"<!-- settings: {name} -->" in text, page
        assert (ROOT / "examples" / f"{name}.toml").is_file(), name
        assert f"examples/{name}.toml" in text, page


EXAMPLE_CONFIGS = sorted((ROOT / "examples").glob("*.toml"))


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=lambda p: p.name)
def test_example_configs_are_accepted(path):
    done = subprocess.run(
        [sys.executable, "-m", "rnn_apps", "config", path.stem, "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env=fresh_env(),
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("#")


def run_example(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env=fresh_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_example_own_data_trains_on_a_csv(tmp_path):
    script = str(ROOT / "examples" / "own_data.py")
    data = tmp_path / "reviews.csv"
    done = run_example(script, "--write-sample", str(data), cwd=tmp_path)
    assert done.returncode == 0 and data.is_file(), done.stderr[-2000:]
    again = run_example(script, "--write-sample", str(data), cwd=tmp_path)
    assert again.returncode == 2, "refuses to overwrite the user's file"
    done = run_example(
        script,
        "--data",
        str(data),
        "--epochs",
        "1",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
        *("--set", "units=8", "--set", "embedding_dim=8", "--set", "max_length=16"),
        *("--set", "max_tokens=200", "--set", "jit_compile=false"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "run" / "model.keras").is_file()
    assert "same predictions" in done.stdout.splitlines()[-1], done.stdout[-2000:]


def test_example_own_model_saves_and_reloads(tmp_path):
    done = run_example(
        str(ROOT / "examples" / "own_model.py"),
        *("--examples", "32", "--epochs", "1", "--units", "8", "--quiet"),
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_example_export_and_load_on_a_saved_run(tmp_path):
    import shutil

    from tests.test_old_runs import FIXTURES

    run = tmp_path / "run"
    shutil.copytree(FIXTURES / "sentiment", run)
    done = run_example(
        str(ROOT / "examples" / "export_and_load.py"), "--run", str(run), cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "probabilities" in done.stdout
