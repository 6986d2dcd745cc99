"""AYS action server: runs `def name(job)` functions of actions.py files.

`server.py serve` reads one JSON request per line on stdin, forks a child per request (the
actions file is compiled once, in the parent) and answers on stdout with `{"id", "pid"}` when the
child started and `{"id", "exit"}` when it ended. `server.py once REQUEST` runs one request in
this process. A job writes its stdout and stderr to the files named by the request, and its
result (ok, data patch, log, error and traceback) as JSON to the result file.

The object model actions see (`j`, `Job`, `Service`) is in `compat.py`, which runs
first in the same namespace (python.rs gives Python both files as one program).
"""
import json
import linecache
import os
import sys
import threading
import traceback
import types


_modules = {}


def load(path):
    """The namespace of the actions file at `path`, run as a module once per version of the file.

    When `path.origin` names the template file it was copied from, the code is compiled under that
    name, with its source in `linecache`, so that tracebacks name the template's file and lines.
    `j` is in the module's globals before its code runs."""
    st = os.stat(path)
    stamp = (st.st_mtime_ns, st.st_size)
    cached = _modules.get(path)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    with open(path, encoding="utf-8") as f:
        source = f.read()
    name = path
    try:
        with open(path + ".origin", encoding="utf-8") as f:
            name = f.read().strip() or path
    except FileNotFoundError:
        pass
    if name != path:
        linecache.cache[name] = (len(source), None, source.splitlines(True), name)
    code = compile(source, name, "exec")
    # A real module, registered while it runs (and again for each job, see `run_job`), so that
    # what looks itself up in `sys.modules` (dataclasses, pickle, typing) works.
    module = types.ModuleType("ays_actions")
    module.__file__ = name
    module.j = j
    sys.modules["ays_actions"] = module
    exec(code, module.__dict__)
    _modules[path] = (stamp, module)
    return module


def returned(job, value):
    """Records what an action returned (other than None) in its log, as JSON when it can be."""
    if value is None:
        return
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    job.log(f"returned {text}")


def run_job(req):
    """Runs one job in this process and exits."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    for fd, path in ((1, req["out"]), (2, req["err"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    job = None
    try:
        with open(req["job_file"], encoding="utf-8") as f:
            job = Job(json.load(f))
        fn = None
        if os.path.exists(req["actions"]):
            module = load(req["actions"])
            sys.modules["ays_actions"] = module
            fn = getattr(module, req["function"], None)
        if callable(fn):
            returned(job, fn(job))
        result = {"ok": True, "patch": job.patch, "logs": job.logs}
    except BaseException as e:  # noqa: BLE001 - every failure is the job's
        error = "".join(traceback.format_exception_only(type(e), e)).strip()
        result = {
            "ok": False,
            "error": error,
            "traceback": traceback.format_exc(),
            "logs": job.logs if job is not None else [],
        }
    try:
        with open(req["result"], "w", encoding="utf-8") as f:
            json.dump(result, f, default=str)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def serve():
    proto = os.dup(1)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    lock = threading.Lock()

    def send(obj):
        data = (json.dumps(obj) + "\n").encode()
        with lock:
            while data:
                data = data[os.write(proto, data):]

    def reap(rid, pid):
        _, status = os.waitpid(pid, 0)
        send({"id": rid, "exit": os.waitstatus_to_exitcode(status)})

    for line in sys.stdin.buffer:
        req = json.loads(line)
        try:
            if os.path.exists(req["actions"]):
                load(req["actions"])
        except BaseException:  # noqa: BLE001 - the child reports it with a traceback
            pass
        pid = os.fork()
        if pid == 0:
            try:
                os.setpgid(0, 0)
            except OSError:
                pass
            os.close(proto)
            run_job(req)
        try:
            os.setpgid(pid, pid)
        except OSError:
            pass
        send({"id": req["id"], "pid": pid})
        threading.Thread(target=reap, args=(req["id"], pid), daemon=True).start()


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "once":
        run_job(json.loads(sys.argv[2]))
    else:
        serve()
