"""Reads actions.py files without running them: their top-level functions, or their syntax error.

Reads a JSON list of {"file", "source"} on stdin and prints a JSON list with, for each file in
order, {"functions": [{"name", "line", "params", "doc", "is_async", "dump"}], "rest": dump,
"init_actions": {"line", "value"} or {"line", "error"} or null} or {"error": {"line", "msg", "text"}}.
`init_actions` is the dict that 8.1's `init_actions_(service, args)` returns, which must be the
same literal in every `return` (it is evaluated with `ast.literal_eval`, never run). A dump is the parsed code (`ast.dump`), without comments and
layout: `rest` is that of the module's statements that are not function definitions.
Functions count as top level when they are defined in the module's body or in the branches of
its top-level `if`, `try` and `with` statements (not inside a function or a class).
"""
import ast
import json
import sys


def functions(body, out):
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            params = [a.arg for a in node.args.posonlyargs + node.args.args]
            out.append({
                "name": node.name,
                "line": node.lineno,
                "params": params,
                "doc": ast.get_docstring(node) or "",
                "is_async": isinstance(node, ast.AsyncFunctionDef),
                "dump": ast.dump(node),
            })
        elif isinstance(node, ast.If):
            functions(node.body, out)
            functions(node.orelse, out)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            functions(node.body, out)
            for handler in node.handlers:
                functions(handler.body, out)
            functions(node.orelse, out)
            functions(node.finalbody, out)
        elif isinstance(node, ast.With):
            functions(node.body, out)


def init_actions(body):
    """The literal dict every `return` of a top-level `init_actions_` gives, or why there is none."""
    for node in body:
        if isinstance(node, ast.FunctionDef) and node.name == "init_actions_":
            values = []
            for r in ast.walk(node):
                if isinstance(r, ast.Return) and r.value is not None:
                    try:
                        values.append((r.lineno, ast.literal_eval(r.value)))
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        return {"line": r.lineno, "error": "`init_actions_` returns a value that is not a literal"}
            if not values:
                return {"line": node.lineno, "error": "`init_actions_` returns nothing"}
            values.sort(key=lambda v: v[0])
            line, value = values[0]
            for other_line, other in values[1:]:
                if other != value:
                    return {"line": other_line, "error": f"`init_actions_` returns another dict than on line {line}"}
            if not isinstance(value, dict) or not all(
                isinstance(k, str) and isinstance(v, (list, tuple)) and all(isinstance(a, str) for a in v)
                for k, v in value.items()
            ):
                return {"line": line, "error": "`init_actions_` must return a dict from action names to lists of action names"}
            return {"line": line, "value": {k: list(v) for k, v in value.items()}}
    return None


def probe(file, source):
    try:
        tree = ast.parse(source, filename=file)
    except SyntaxError as e:
        text = (e.text or "").strip()
        return {"error": {"line": e.lineno or 0, "msg": e.msg, "text": text}}
    except ValueError as e:  # null bytes
        return {"error": {"line": 0, "msg": str(e), "text": ""}}
    out = []
    functions(tree.body, out)
    plain = (ast.FunctionDef, ast.AsyncFunctionDef)
    rest = "\n".join(ast.dump(node) for node in tree.body if not isinstance(node, plain))
    return {"functions": out, "rest": rest, "init_actions": init_actions(tree.body)}


def main():
    files = json.load(sys.stdin)
    print(json.dumps([probe(f["file"], f["source"]) for f in files]))


main()
