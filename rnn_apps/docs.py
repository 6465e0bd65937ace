"""The generated references of the documentation, from the code that defines them.

    python -m rnn_apps.docs            # writes them
    python -m rnn_apps.docs --check    # exit status 1 when one is not up to date

- ``docs/settings.md``: every recipe's settings, then the training settings that every
  recipe shares, with their defaults, allowed values and meaning, as the config classes
  declare them (``rnn-apps fit RECIPE --help`` and ``rnn-apps config RECIPE`` say the same);
- the settings section of each application page (``docs/apps/RECIPE.md``, between the lines
  ``<!-- settings: RECIPE -->`` and ``<!-- end settings -->``): the same tables;
- ``docs/cli.md``: the ``--help`` of ``rnn-apps`` and of each of its verbs, from the parser
  (as Python 3.11's argparse lays it out; other versions leave the page alone).
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"
SETTINGS_FILE = DOCS / "settings.md"
CLI_FILE = DOCS / "cli.md"
APPS_DIR = DOCS / "apps"
#: the settings section of an application page
#: argparse's help layout changes between Python versions: docs/cli.md is that of this one
CLI_PYTHON = (3, 11)
REGION = re.compile(r"(<!-- settings: (\w+) -->\n)(.*?)(<!-- end settings -->)", re.DOTALL)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_tables(name: str) -> list[str]:
    """The Markdown lines of recipe ``name``'s settings: one table per group."""
    import recipes
    from recipes.core.config import allowed, field_doc, groups, toml_text

    config_class = recipes.config_class(name)
    defaults = config_class()
    lines = [f"`{config_class.__module__}.{config_class.__name__}`"]
    for heading, keys in groups(config_class):
        lines += ["", f"{heading[0].upper()}{heading[1:]}:", ""]
        lines += ["| setting | default | values | meaning |", "|---|---|---|---|"]
        for key in keys:
            value = getattr(defaults, key)
            default = "not set" if value is None else f"`{toml_text(value)}`"
            row = [f"`{key}`", default, allowed(config_class, key), field_doc(config_class, key)]
            lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return lines


def settings_reference() -> str:
    """The Markdown of ``docs/settings.md``."""
    import recipes

    lines = [
        "# Settings",
        "",
        "Every setting of every recipe, with its default, the values it takes and what it",
        "means. Give them with `rnn-apps fit RECIPE --set KEY=VALUE` or in a TOML file",
        "(`--config FILE`); `rnn-apps config RECIPE` writes that file with every setting",
        "and its default, and `rnn-apps fit RECIPE --help` lists them too. A run keeps its",
        "settings in `config.toml`. [Configuration](configuration.md) tells the order in",
        "which the sources are merged.",
        "",
        "This page is generated from the config classes: `python -m rnn_apps.docs`.",
    ]
    for name in recipes.APPLICATIONS:
        lines += ["", f"## {name}", "", *settings_tables(name)]
    return "\n".join(lines) + "\n"


def with_settings(page: str) -> str:
    """An application page with its settings section filled in."""

    def fill(match: re.Match) -> str:
        body = "\n".join(settings_tables(match.group(2)))
        return f"{match.group(1)}{body}\n{match.group(4)}"

    return REGION.sub(fill, page)


def cli_reference() -> str:
    """The Markdown of ``docs/cli.md``: the help of the command and of each verb."""
    import argparse

    from rnn_apps.cli import build_parser

    columns = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # the same line breaks wherever it is generated
    try:
        parser = build_parser()
        lines = [
            "# Command line",
            "",
            "Every verb of `rnn-apps` with its options, as `--help` prints them.",
            "`rnn-apps fit RECIPE --help` also lists that recipe's settings",
            "([settings](settings.md)). A user error prints one line,",
            "`rnn-apps: error: ...`, and exits with status 2; `--debug` shows the traceback.",
            "",
            "This page is generated from the argument parser: `python -m rnn_apps.docs`.",
            "",
            "## rnn-apps",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
        ]
        (verbs,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        shown: set[int] = set()
        for verb, sub in verbs.choices.items():
            if id(sub) in shown:  # an alias of a verb already shown
                continue
            shown.add(id(sub))
            lines += ["", f"## rnn-apps {verb}", "", "```text", sub.format_help().rstrip(), "```"]
    finally:
        if columns is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = columns
    return "\n".join(lines) + "\n"


def generated() -> dict[Path, str]:
    """Every generated file and its up-to-date text."""
    files = {SETTINGS_FILE: settings_reference()}
    if sys.version_info[:2] == CLI_PYTHON:
        files[CLI_FILE] = cli_reference()
    for page in sorted(APPS_DIR.glob("*.md")):
        files[page] = with_settings(page.read_text(encoding="utf-8"))
    return files


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    files = generated()
    if "--check" in argv:
        stale = [
            path
            for path, text in files.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text
        ]
        for path in stale:
            print(f"{path} is out of date: run python -m rnn_apps.docs", file=sys.stderr)
        return 1 if stale else 0
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
