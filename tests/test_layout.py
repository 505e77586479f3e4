"""The package layout holds: imports run only downward, no circles, small modules, few Any.

The layers, top to bottom (a module may import its own package and any layer below it):
cli/runner -> fanout -> deliver -> session -> keys -> config -> ground (errors, text, credentials, files).
"""

from __future__ import annotations

import ast
import os
from typing import Dict, Iterator, List, Set, Tuple

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "awsrun")
LAYERS = ["ground", "config", "keys", "session", "deliver", "fanout", "top"]
TOP = {"awsrun.cli", "awsrun.runner", "awsrun.__main__"}


def _modules() -> Dict[str, str]:
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path[:-3], os.path.dirname(PACKAGE)).replace(os.sep, ".")
                found[dotted[: -len(".__init__")] if dotted.endswith(".__init__") else dotted] = path
    return found


MODULES = _modules()


def layer(module: str) -> int:
    if module in TOP:
        return LAYERS.index("top")
    parts = module.split(".")
    if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS):
        return LAYERS.index(parts[1]) if parts[1] in LAYERS else LAYERS.index("ground")
    return LAYERS.index("ground")


def _imports(path: str) -> Iterator[Tuple[str, bool]]:
    """(imported awsrun module, whether the import is inside a function), TYPE_CHECKING blocks skipped."""
    def walk(node: ast.AST, in_function: bool) -> Iterator[Tuple[str, bool]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            local = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield alias.name, in_function
            elif isinstance(child, ast.ImportFrom) and child.module and not child.level:
                for alias in child.names:
                    full = f"{child.module}.{alias.name}"
                    yield (full if full in MODULES else child.module), in_function
            yield from walk(child, local)

    with open(path, encoding="utf-8") as stream:
        tree = ast.parse(stream.read())
    for target, in_function in walk(tree, False):
        if target.split(".")[0] == "awsrun":
            while target not in MODULES and "." in target:
                target = target.rsplit(".", 1)[0]
            yield target, in_function


GRAPH: Dict[str, Set[str]] = {name: {t for t, _ in _imports(path)} - {name} for name, path in MODULES.items()}


def test_imports_run_only_downward() -> None:
    upward = [f"{source} -> {target}" for source, targets in GRAPH.items() for target in targets
              if target != "awsrun" and layer(target) > layer(source)]
    assert upward == []


def test_no_import_circles() -> None:
    def reach(start: str) -> Set[str]:
        seen: Set[str] = set()
        todo = list(GRAPH[start])
        while todo:
            name = todo.pop()
            if name not in seen:
                seen.add(name)
                todo.extend(GRAPH.get(name, ()))
        return seen

    circles = sorted(name for name in MODULES if name in reach(name) and name != "awsrun")
    assert circles == []


def test_modules_are_small_and_few_at_the_top() -> None:
    sizes = {name: sum(1 for _ in open(path, encoding="utf-8")) for name, path in MODULES.items()}
    assert {name: size for name, size in sizes.items() if size > 350} == {}
    top = sorted(n for n, p in MODULES.items() if os.path.dirname(p) == PACKAGE)
    assert len(top) <= 8, top


def test_types_say_what_travels() -> None:
    count = 0
    for path in MODULES.values():
        with open(path, encoding="utf-8") as stream:
            tree = ast.parse(stream.read())
        count += sum(1 for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "Any")
    assert count <= 30


def _local_import_statements(path: str) -> List[int]:
    """The line of each import statement inside a function that imports one of awsrun's modules."""
    with open(path, encoding="utf-8") as stream:
        tree = ast.parse(stream.read())
    lines: Set[int] = set()
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "awsrun" and not node.level:
                    lines.add(node.lineno)
                elif isinstance(node, ast.Import) and any(a.name.split(".")[0] == "awsrun" for a in node.names):
                    lines.add(node.lineno)
    return sorted(lines)


def test_lazy_imports_only_where_a_fast_path_needs_them() -> None:
    local = [f"{os.path.relpath(path, PACKAGE)}:{line}" for path in MODULES.values()
             for line in _local_import_statements(path)]
    assert len(local) <= 35, "\n".join(local)


@pytest.mark.parametrize("package", ["awsrun.config", "awsrun.errors", "awsrun.text", "awsrun.credentials"])
def test_lower_floors_never_import_botocore(package: str) -> None:
    for name, path in MODULES.items():
        if name == package or name.startswith(package + "."):
            with open(path, encoding="utf-8") as stream:
                assert "botocore" not in {alias.name.split(".")[0] for node in ast.walk(ast.parse(stream.read()))
                                          if isinstance(node, (ast.Import, ast.ImportFrom))
                                          for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}, name
