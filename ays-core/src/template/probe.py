"""Reads actions.py files without running them: their top-level functions, or their syntax error.

Reads a JSON list of {"file", "source"} on stdin and prints a JSON list with, for each file in
order, {"functions": [{"name", "line", "params", "doc", "is_async", "dump"}], "rest": dump} or
{"error": {"line", "msg", "text"}}. A dump is the parsed code (`ast.dump`), without comments and
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
    return {"functions": out, "rest": rest}


def main():
    files = json.load(sys.stdin)
    print(json.dumps([probe(f["file"], f["source"]) for f in files]))


main()
