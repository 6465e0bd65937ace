"""The settings reference (``docs/settings.md``), generated from the config classes.

    python -m rnn_apps.docs            # writes docs/settings.md
    python -m rnn_apps.docs --check    # exit status 1 when the file is not up to date

Each recipe's section lists its own settings, then the training settings that every
recipe shares, with their defaults, allowed values and meaning, as the config classes
declare them (``rnn-apps fit RECIPE --help`` and ``rnn-apps config RECIPE`` say the same).
"""

from __future__ import annotations

import sys
from pathlib import Path

SETTINGS_FILE = Path(__file__).resolve().parent.parent / "docs" / "settings.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def settings_reference() -> str:
    """The Markdown of ``docs/settings.md``."""
    import recipes
    from recipes.core.config import allowed, field_doc, groups, toml_text

    lines = [
        "# Settings",
        "",
        "Every setting of every recipe, with its default, the values it takes and what it",
        "means. Give them with `rnn-apps fit RECIPE --set KEY=VALUE` or in a TOML file",
        "(`--config FILE`); `rnn-apps config RECIPE` writes that file with every setting",
        "and its default, and `rnn-apps fit RECIPE --help` lists them too. A run keeps its",
        "settings in `config.toml`.",
        "",
        "This page is generated from the config classes: `python -m rnn_apps.docs`.",
    ]
    for name in recipes.APPLICATIONS:
        config_class = recipes.config_class(name)
        defaults = config_class()
        lines += ["", f"## {name}", "", f"`{config_class.__module__}.{config_class.__name__}`"]
        for heading, keys in groups(config_class):
            lines += ["", f"{heading[0].upper()}{heading[1:]}:", ""]
            lines += ["| setting | default | values | meaning |", "|---|---|---|---|"]
            for key in keys:
                value = getattr(defaults, key)
                default = "not set" if value is None else f"`{toml_text(value)}`"
                row = [
                    f"`{key}`",
                    default,
                    allowed(config_class, key),
                    field_doc(config_class, key),
                ]
                lines.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = settings_reference()
    if "--check" in argv:
        current = SETTINGS_FILE.read_text(encoding="utf-8") if SETTINGS_FILE.exists() else ""
        if current != text:
            print(f"{SETTINGS_FILE} is out of date: run python -m rnn_apps.docs", file=sys.stderr)
            return 1
        return 0
    SETTINGS_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {SETTINGS_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
