"""AYS action server: runs `def name(job)` functions of actions.py files.

`server.py serve` reads one JSON request per line on stdin, forks a child per request (the
actions file is compiled once, in the parent) and answers on stdout with `{"id", "pid"}` when the
child started and `{"id", "exit"}` when it ended. `server.py once REQUEST` runs one request in
this process. A job writes its stdout and stderr to the files named by the request, and its
result (ok, data patch, log, error and traceback) as JSON to the result file.
"""
import json
import linecache
import os
import sys
import threading
import traceback
import types


def field_name(name):
    """The Cap'n Proto name of a field named as in schema.hrd: `mem.gb` and `mem_gb` are `memGb`."""
    out = []
    upper = False
    for c in name:
        if c in "._":
            upper = bool(out)
            continue
        out.append(c.upper() if upper else c)
        upper = False
    return "".join(out)


class Data:
    """Service data with attribute access; assignments to the job's own service are recorded.

    Fields answer to their Cap'n Proto name (`memGb`) and their schema.hrd name (`mem.gb`,
    as an item; `mem_gb` as an attribute)."""

    def __init__(self, data, patch):
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_patch", patch)

    def __getattr__(self, name):
        try:
            return self._data[field_name(name)]
        except KeyError:
            raise AttributeError(f"service data has no field {name!r}") from None

    def __setattr__(self, name, value):
        name = field_name(name)
        self._data[name] = value
        if self._patch is not None:
            self._patch[name] = value

    def __getitem__(self, name):
        return self._data[field_name(name)]

    def __setitem__(self, name, value):
        self.__setattr__(name, value)

    def to_dict(self):
        return dict(self._data)


class Service:
    def __init__(self, doc, patch=None):
        self.key = doc["key"]
        self.role = doc["role"]
        self.name = doc["name"]
        self.actor = doc["actor"]
        self.data = Data(dict(doc.get("data") or {}), patch)
        self.parent = None
        self.producers = {}
        self.consumers = {}

    def __repr__(self):
        return f"Service({self.key})"


class Job:
    def __init__(self, doc):
        self.patch = {}
        self.logs = []
        self.service = Service(doc["service"], self.patch)
        if doc.get("parent"):
            self.service.parent = Service(doc["parent"])
        for attr in ("producers", "consumers"):
            by_role = {r: [Service(s) for s in l] for r, l in (doc.get(attr) or {}).items()}
            setattr(self.service, attr, by_role)
        self.args = doc.get("args") or {}
        self.repo = doc.get("repo")
        self.run = doc.get("run")
        self.action = doc.get("action")
        self.attempt = doc.get("attempt")

    def log(self, msg, category="msg"):
        self.logs.append({"category": category, "text": str(msg)})

    def error(self, msg):
        self.log(msg, "errormsg")
        raise RuntimeError(msg)


_modules = {}


def load(path):
    """The namespace of the actions file at `path`, run as a module once per version of the file.

    When `path.origin` names the template file it was copied from, the code is compiled under that
    name, with its source in `linecache`, so that tracebacks name the template's file and lines."""
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
