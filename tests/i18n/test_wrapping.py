"""Code that wraps texts must not lose ``_``: a function that binds ``_`` itself (``for a, _ in pairs``,
``x, _ = f()``) turns every ``_("…")`` in it into a call of that local value, a crash only at run time."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [p for folder in ("core", "adapters", "plugins") for p in (ROOT / folder).rglob("*.py")]


def _binds_underscore(node: ast.AST) -> bool:
    for child in ast.walk(node):
        if isinstance(child, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(child, ast.Name) and child.id == "_" and isinstance(child.ctx, ast.Store):
            return True
    return False


def _calls_underscore(node: ast.AST) -> bool:
    return any(isinstance(c, ast.Call) and isinstance(c.func, ast.Name) and c.func.id == "_" for c in ast.walk(node))


def _own_body(original: ast.AST) -> ast.AST:
    """The function's statements without nested functions and comprehensions (they have their own scope)."""
    import copy

    function = copy.deepcopy(original)

    class Strip(ast.NodeTransformer):
        def visit_FunctionDef(self, node):
            return None if node is not function else self.generic_visit(node)

        visit_AsyncFunctionDef = visit_FunctionDef

        def visit_ListComp(self, node):
            return ast.Constant(None)

        visit_SetComp = visit_DictComp = visit_GeneratorExp = visit_Lambda = visit_ListComp

    return Strip().visit(function)


def test_no_function_both_binds_and_calls_underscore():
    offenders = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                body = _own_body(node)
                if _binds_underscore(body) and _calls_underscore(body):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not offenders, "these functions bind _ and also call _(): " + ", ".join(offenders)
