"""AYS action server: runs `def name(job)` functions of actions.py files.

`server.py serve` reads one JSON request per line on stdin, forks a child per request (the
actions file is compiled once, in the parent) and answers on stdout with `{"id", "pid"}` when the
child started and `{"id", "exit"}` when it ended. `server.py once REQUEST` runs one request in
this process. A job writes its stdout and stderr to the files named by the request, and its
result (ok, data patch, log, error and traceback) as JSON to the result file.

`server.py create` runs the creation actions `input` and `init` of a blueprint, in this process,
as a conversation of JSON lines (see `create`): a `call` starts an action, whose requests to the
repository (get, find, actor, create, consume, save) wait for a `reply`, and which ends with
`done`. While an action waits for a reply, a nested `call` may come first (the `init` of a
service it asked to create); it is run to its end before the wait goes on.

The object model actions see (`j`, `Job`, `CreationJob`, `Service`) is in `compat.py`, which runs
first in the same namespace (python.rs gives Python both files as one program).
"""
import io
import json
import linecache
import os
import signal
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


def action_traceback(e):
    """The traceback of `e` from the first frame that is not this server's own: what the
    action's author wrote, then what it called."""
    own = sys._getframe().f_code.co_filename
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None and tb.tb_frame.f_code.co_filename == own:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def error_line(e):
    """The first line of an exception as Python prints it (`j.exceptions.Input: x`)."""
    lines = "".join(traceback.format_exception_only(type(e), e)).strip().splitlines()
    return lines[0] if lines else type(e).__name__


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
            "traceback": action_traceback(e),
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

    running = set()

    def reap(rid, pid):
        _, status = os.waitpid(pid, 0)
        with lock:
            running.discard(pid)
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
        with lock:
            running.add(pid)
        send({"id": req["id"], "pid": pid})
        threading.Thread(target=reap, args=(req["id"], pid), daemon=True).start()
    # Stdin closed: ays is done with this server, or died (SIGKILL). A job still running then
    # would go on unseen, and run a second time alongside when the run resumes: end it (its
    # whole process group).
    with lock:
        left = list(running)
    for pid in left:
        try:
            os.killpg(pid, signal.SIGTERM)
        except OSError:
            pass


# The creation conversation.


class _Hangup(BaseException):
    """ays broke the conversation: the server ends, whatever action runs."""


class _Closed(_Hangup):
    """ays closed the conversation: the server ends quietly."""


def _to_json(value):
    """JSON for what json does not know: a Service is its key, anything else its text."""
    return value.key if isinstance(value, Service) else str(value)


class Channel:
    """Both ends of the conversation with ays: JSON lines in on `rfile`, out on the fd `wfd`."""

    def __init__(self, rfile, wfd):
        self.rfile = rfile
        self.wfd = wfd
        self.backend = _CreationBackend(self)

    def send(self, obj):
        data = (json.dumps(obj, default=_to_json) + "\n").encode()
        while data:
            data = data[os.write(self.wfd, data):]

    def receive(self):
        line = self.rfile.readline()
        if not line:
            raise _Closed()
        try:
            msg = json.loads(line)
        except ValueError:
            raise _Hangup(f"ays sent a line that is not JSON: {line[:200]!r}") from None
        if not isinstance(msg, dict):
            raise _Hangup(f"ays sent a message that is not an object: {line[:200]!r}")
        return msg

    def request(self, op, **fields):
        """Asks ays `op` and returns its answer, running the calls that come first; a refusal
        is raised as j.exceptions.RuntimeError."""
        self.send({"type": "request", "op": op, **fields})
        while True:
            msg = self.receive()
            kind = msg.get("type")
            if kind == "call":
                self.call(msg)
            elif kind == "reply":
                if msg.get("ok"):
                    return msg.get("value")
                raise j.exceptions.RuntimeError(msg.get("error") or f"ays refused the {op} request")
            else:
                raise _Hangup(f"ays sent {kind!r} while a request waited for a reply")

    def call(self, call):
        """Runs one `input` or `init` and sends its `done`; what it prints is its output."""
        capture = io.StringIO()
        saved = sys.stdout, sys.stderr, sys.modules.get("ays_actions")
        sys.stdout = sys.stderr = capture
        try:
            job = CreationJob(call, self.backend)
            given = job.model.args
            before = json.dumps(given, sort_keys=True, default=_to_json)
            module = load(call["actions"])
            sys.modules["ays_actions"] = module
            fn = getattr(module, call["action"], None)
            result = fn(job) if callable(fn) else None
            args = None
            if call["action"] == "input":
                args = _input_args(job, given, before, result)
            done = {"type": "done", "ok": True, "args": args, "data": dict(job.service._patch)}
        except _Hangup:
            raise
        except BaseException as e:  # noqa: BLE001 - every failure is the action's
            done = {
                "type": "done",
                "ok": False,
                "error": error_line(e),
                "traceback": action_traceback(e),
            }
        finally:
            sys.stdout, sys.stderr = saved[0], saved[1]
            if saved[2] is not None:
                sys.modules["ays_actions"] = saved[2]
        done["output"] = capture.getvalue()
        self.send(done)


def _input_args(job, given, before, result):
    """The args `input` leaves: what it returned, else `job.model.args` when it was changed or
    replaced, else None (unchanged)."""
    if result is not None:
        if not isinstance(result, dict):
            raise TypeError(f"input returned {type(result).__name__}, not a dict or None")
        return result
    args = job.model.args
    if args is given and json.dumps(args, sort_keys=True, default=_to_json) == before:
        return None
    if not isinstance(args, dict):
        raise TypeError(f"job.model.args is a {type(args).__name__}, not a dict")
    return args


def die_with_parent():
    """Asks Linux to kill this process when ays dies: an action blocked in a hung call would
    not notice its stdin closing. Elsewhere (or without libc) it ends at its next read."""
    parent = os.getppid()
    try:
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, 9, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # ays died before the request took effect
        os._exit(1)


def create():
    """Serves creation calls until ays closes stdin. The conversation uses private copies of
    stdin and stdout; fd 0 becomes /dev/null and fd 1 goes to stderr, so that what actions and
    the processes they start read or print cannot break it."""
    die_with_parent()
    rfd, wfd = os.dup(0), os.dup(1)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    os.dup2(2, 1)
    channel = Channel(os.fdopen(rfd, "rb"), wfd)
    try:
        while True:
            msg = channel.receive()
            if msg.get("type") != "call":
                raise _Hangup(f"ays sent {msg.get('type')!r} while no action ran")
            channel.call(msg)
    except _Closed:
        pass
    except _Hangup as e:
        print(f"ays creation server: {e}", file=sys.__stderr__)
        sys.exit(2)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "once":
        run_job(json.loads(sys.argv[2]))
    elif sys.argv[1:] == ["create"]:
        create()
    else:
        serve()
