"""The code blocks of the README and docs/, and a runner that executes a page's Python
blocks in a fresh process (``python tests/docs_blocks.py PAGE``).

A Python block runs in order with the page's earlier blocks, in one namespace, in the
current folder. A block preceded by ``<!-- not run: REASON -->`` (it needs a trained run,
a download or a long training) is compiled, and every name it imports, and every
attribute it reads of an imported module or class, is checked to exist.
"""

from __future__ import annotations

import ast
import importlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\w*)\s*$")
NOT_RUN = re.compile(r"^<!-- not run: (.+) -->\s*$")


@dataclass
class Block:
    page: Path
    line: int  # of the first code line
    language: str
    code: str
    not_run: str | None  # the reason, for a block that is only checked

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def pages() -> list[Path]:
    """The README and every Markdown page under docs/."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def blocks(page: Path) -> list[Block]:
    """The fenced code blocks of ``page``."""
    found: list[Block] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        previous = lines[i - 1] if i else ""
        reason = NOT_RUN.match(previous)
        end = i + 1
        while end < len(lines) and not lines[end].startswith("```"):
            end += 1
        code = "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(page, i + 2, match.group(1), code, reason and reason.group(1)))
        i = end + 1
    return found


def _resolve(dotted: list[str], namespace: dict, where: str) -> None:
    """Checks that the attribute chain ``dotted`` exists, from a name of ``namespace``,
    as far as the objects on the way are modules or classes."""
    obj = namespace[dotted[0]]
    for i, attribute in enumerate(dotted[1:], 1):
        if not (isinstance(obj, type) or type(obj).__name__ == "module"):
            return
        if not hasattr(obj, attribute):
            raise AssertionError(f"{where}: {'.'.join(dotted[: i + 1])} does not exist")
        obj = getattr(obj, attribute)


def check_names(code: str, where: str) -> None:
    """Imports what ``code`` imports and checks the attributes it reads of them."""
    tree = ast.parse(code, where)
    namespace: dict = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                module = importlib.import_module(alias.name)
                if alias.asname:
                    namespace[alias.asname] = module
                else:
                    namespace[alias.name.split(".")[0]] = importlib.import_module(
                        alias.name.split(".")[0]
                    )
        elif isinstance(node, ast.ImportFrom) and node.module:
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        raise AssertionError(
                            f"{where}: {node.module} has no {alias.name}"
                        ) from None
                namespace[alias.asname or alias.name] = getattr(module, alias.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            chain: list[str] = []
            current: ast.expr = node
            while isinstance(current, ast.Attribute):
                chain.insert(0, current.attr)
                current = current.value
            if isinstance(current, ast.Name) and current.id in namespace:
                _resolve([current.id, *chain], namespace, where)


def run_page(page: Path) -> None:
    """Runs (or checks) the page's Python blocks in order, in one namespace."""
    namespace: dict = {"__name__": "__main__"}
    for block in blocks(page):
        if block.language != "python":
            continue
        compiled = compile(block.code, block.where, "exec")
        if block.not_run:
            check_names(block.code, block.where)
            continue
        print(f"running {block.where}", file=sys.stderr, flush=True)
        exec(compiled, namespace)


if __name__ == "__main__":
    run_page(Path(sys.argv[1]).resolve())
