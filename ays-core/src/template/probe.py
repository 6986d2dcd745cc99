"""Reads an actions.py without running it: prints its top-level functions, or its syntax error.

Reads the source on stdin; argv[1] is the file name used in messages. Prints one JSON object:
{"functions": [{"name", "line", "params", "doc", "is_async"}]} or {"error": {"line", "msg", "text"}}.
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


def main():
    source = sys.stdin.buffer.read()
    try:
        tree = ast.parse(source, filename=sys.argv[1])
    except SyntaxError as e:
        text = (e.text or "").strip()
        print(json.dumps({"error": {"line": e.lineno or 0, "msg": e.msg, "text": text}}))
        return
    except ValueError as e:  # null bytes
        print(json.dumps({"error": {"line": 0, "msg": str(e), "text": ""}}))
        return
    out = []
    functions(tree.body, out)
    print(json.dumps({"functions": out}))


main()
