"""One console: no module of awsrun or awsrun-keys writes to a terminal except through awsrun/text.py.

The test reads the source (AST) of every module, so a new mode cannot start with its own print().
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path
from typing import List, Set, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "awsrun"

# (module, function) -> why it may write itself. Everything else speaks through the Console.
ALLOWED = {
    ("fanout/children.py", "Sink.write"): "a child's own output, passed on under the output lock (Lines made it inert)",
    ("fanout/run.py", "Fanout._say_failure"): "a role's failure, written into its line stream through safe_text",
}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return "?"


def _is_terminal(receiver: str) -> bool:
    last = receiver.rsplit(".", 1)[-1]
    return "stdout" in receiver or "stderr" in receiver or last in ("out", "err", "_stream", "_binary")


def bypasses(path: Path) -> List[Tuple[str, int, str]]:
    """(function, line, call) for each print/stdout/stderr write in ``path`` outside the console."""
    found: List[Tuple[str, int, str]] = []

    class Visitor(ast.NodeVisitor):
        def __init__(self) -> None:
            self.stack: List[str] = []

        def _scope(self, node: ast.AST) -> None:
            self.stack.append(node.name)  # type: ignore[attr-defined]
            self.generic_visit(node)
            self.stack.pop()

        visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

        def visit_Call(self, node: ast.Call) -> None:
            name = _dotted(node.func)
            receiver, _, method = name.rpartition(".")
            bad = (name == "print" or name.startswith("traceback.print")
                   or (method in ("write", "writelines") and _is_terminal(receiver))
                   or (name == "os.write" and isinstance(node.args[0], ast.Constant) and node.args[0].value in (1, 2)))
            if bad:
                found.append((".".join(self.stack), node.lineno, name))
            self.generic_visit(node)

    with warnings.catch_warnings():  # a module's own escape-sequence warnings are not ours to show
        warnings.simplefilter("ignore")
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    Visitor().visit(tree)
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "text.py" or p.parent != PACKAGE)


def test_the_walk_sees_both_commands() -> None:
    names = {str(p.relative_to(PACKAGE)) for p in MODULES}
    assert {"cli.py", "runner.py", "fanout/plan.py", "deliver/output.py", "keys/cli.py", "keys/rotate.py", "keys/aws.py"} <= names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_writes_to_a_terminal_past_the_console(path: Path) -> None:
    module = str(path.relative_to(PACKAGE))
    wrong = [f"{module}:{line} {call}() in {where or '<module>'}" for where, line, call in bypasses(path)
             if (module, where) not in ALLOWED]
    assert not wrong, "use the Console (awsrun/text.py): " + "; ".join(wrong)


def test_the_allowed_exceptions_still_exist() -> None:
    seen: Set[Tuple[str, str]] = set()
    for path in MODULES:
        seen |= {(str(path.relative_to(PACKAGE)), where) for where, _, _ in bypasses(path)}
    assert set(ALLOWED) <= seen, "remove stale entries from ALLOWED"


def test_the_walker_catches_a_bypass(tmp_path: Path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import sys, os\ndef f(out, console):\n    print('x')\n    sys.stderr.write('x')\n"
                      "    out.write('x')\n    console.err.write('x')\n    os.write(2, b'x')\n    stream.write('ok')\n")
    assert [call for _, _, call in bypasses(sample)] == ["print", "sys.stderr.write", "out.write", "console.err.write",
                                                          "os.write"]
