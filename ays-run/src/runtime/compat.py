"""The JumpScale 8.1 object model that actions see, as far as ays provides it.

`j` (injected into every actions module, and importable with `from JumpScale import j`) with
`j.exceptions`, `j.sal.fs` and `j.sal.process`; `job.service`, `job.model.args`,
`job.model.log`, `job.error`; a service's `data` (also `model.data`), `parent`, `producers`,
`consumers` and, at creation only, `aysrepo` and `consume`.

This file is run first, in the same namespace as `server.py` (which uses its names): python.rs
gives Python both files as one program.
"""
import os
import shutil
import subprocess
import sys
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
    """Service data with attribute access; assignments are recorded in `patch` (when given).

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

    def _refresh(self, data):
        """Replaces the fields with `data`, keeping assignments not saved yet."""
        self._data.clear()
        self._data.update(data)
        if self._patch:
            self._data.update(self._patch)


# JumpScale 8.1's `j`, as far as ays provides it.


class BaseJSException(Exception):
    """8.1's exception base: `message` positional or keyword; `level`, `source`, `tags` and
    `msgpub` are accepted and kept, and mean nothing here."""

    def __init__(self, message="", level=None, source=None, tags=None, msgpub=None, **ignored):
        super().__init__(message)
        self.message = message
        self.level = level
        self.source = source
        self.tags = tags
        self.msgpub = msgpub

    def __str__(self):
        return str(self.message)


def _exception(name, *bases):
    cls = type(name, bases or (BaseJSException,), {"__doc__": f"8.1's j.exceptions.{name}."})
    # Tracebacks and error lines then read `j.exceptions.Input: ...`.
    cls.__module__ = "j.exceptions"
    return cls


BaseJSException.__module__ = "j.exceptions"


class _Api:
    """A part of 8.1's `j` that ays provides; any other attribute is refused by name."""

    def __init__(self, path, **members):
        self.__dict__.update(members)
        self.__dict__["_path"] = path

    def __getattr__(self, name):
        raise AttributeError(
            f"{self._path}.{name} is not part of ays's compatibility API "
            "(j.exceptions, j.sal.fs and j.sal.process)"
        )

    def __repr__(self):
        return f"<ays compatibility {self._path}>"


def _fs_exists(path, followlinks=True):
    return os.path.exists(path) if followlinks else os.path.lexists(path)


def _fs_create_dir(path):
    os.makedirs(path, exist_ok=True)


def _fs_remove(path):
    """Removes a file or a directory tree; nothing when it is absent."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.remove(path)


def _fs_copy_file(fileFrom, to, createDirIfNeeded=False, overwriteFile=True, **ignored):
    if os.path.isdir(to):
        to = os.path.join(to, os.path.basename(fileFrom))
    if createDirIfNeeded:
        os.makedirs(os.path.dirname(to) or ".", exist_ok=True)
    if not overwriteFile and os.path.exists(to):
        return
    shutil.copy2(fileFrom, to)


def _fs_file_get_contents(filename):
    with open(filename, encoding="utf-8") as f:
        return f.read()


def _fs_write_file(filename, contents, append=False):
    mode = ("a" if append else "w") + ("b" if isinstance(contents, bytes) else "")
    with open(filename, mode) as f:
        f.write(contents)


def _fs_chmod(path, permissions):
    os.chmod(path, permissions)


def _execute(command, die=True, ignoreErrorOutput=False, showout=False, timeout=None, **ignored):
    """Runs `command` (a shell line, or an argument list) and returns `(rc, output)`; the output
    holds stderr after stdout unless `ignoreErrorOutput`. With `die`, a non-zero exit raises
    `j.exceptions.RuntimeError`. The command reads nothing (its stdin is /dev/null)."""
    proc = subprocess.run(
        command,
        shell=isinstance(command, str),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
    )
    out = proc.stdout.decode(errors="replace")
    err = proc.stderr.decode(errors="replace")
    if not ignoreErrorOutput:
        out += err
    if showout:
        print(out, end="")
    if die and proc.returncode != 0:
        raise j.exceptions.RuntimeError(
            f"command exited with {proc.returncode}: {command}\n{err or out}".rstrip()
        )
    return proc.returncode, out


j = _Api(
    "j",
    exceptions=_Api(
        "j.exceptions",
        BaseJSException=BaseJSException,
        Input=_exception("Input"),
        NotFound=_exception("NotFound"),
        AYSNotFound=_exception("AYSNotFound"),
        # Also a Python RuntimeError, so that `except RuntimeError` catches it.
        RuntimeError=_exception("RuntimeError", BaseJSException, RuntimeError),
    ),
    sal=_Api(
        "j.sal",
        fs=_Api(
            "j.sal.fs",
            joinPaths=os.path.join,
            exists=_fs_exists,
            createDir=_fs_create_dir,
            remove=_fs_remove,
            copyFile=_fs_copy_file,
            fileGetContents=_fs_file_get_contents,
            writeFile=_fs_write_file,
            chmod=_fs_chmod,
        ),
        process=_Api("j.sal.process", execute=_execute),
    ),
)

_jumpscale = types.ModuleType("JumpScale", "JumpScale 8.1's `j`, as far as ays provides it.")
_jumpscale.j = j
sys.modules["JumpScale"] = _jumpscale

# What `job.error` raises: a j.exceptions.RuntimeError, as in 8.1, which prints as the plain
# `RuntimeError: msg` that ays documents for it (docs/actions.md).
_JobError = _exception("RuntimeError", j.exceptions.RuntimeError)
_JobError.__module__ = "builtins"


# Services, as 8.1's actions saw them.


def _creation_only(what):
    return j.exceptions.RuntimeError(
        f"{what} is available in `input` and `init`, while a blueprint creates services, "
        "not in run jobs (an `init` that changed since the blueprint ran runs again, with "
        "it, when the blueprints are applied again: `ays blueprint`)"
    )


def _key(service):
    """The key of a service given as a Service or as its key."""
    if service is None or service == "":
        return None
    return service.key if isinstance(service, Service) else str(service)


class Service:
    """A service: `key`, `name`, `role`, `actor`, `path`, `data` (also `model.data`),
    `parent`, `producers` and `consumers` (dicts role -> [Service]), `aysrepo`, `consume`,
    `save` and `saveAll`. Relations are fetched when first read, through the backend."""

    def __init__(self, view, backend, patch=None):
        self._backend = backend
        self._patch = patch
        self.data = Data({}, patch)
        self.model = Model(self)
        self._load(view)

    def _load(self, view):
        self._view = view
        self.key = view["key"]
        self.role = view.get("role") or self.key.split("!", 1)[0]
        self.name = view.get("name") or self.key.split("!", 1)[-1]
        self.actor = view.get("actor") or self.role
        self.path = view.get("path")
        self.data._refresh(view.get("data") or {})
        self._relations = {}

    @property
    def parent(self):
        if "parent" not in self._relations:
            key = self._view.get("parent")
            self._relations["parent"] = self._backend.service(key) if key else None
        return self._relations["parent"]

    def _by_role(self, attr):
        if attr not in self._relations:
            found = {}
            for role, keys in (self._view.get(attr) or {}).items():
                services = (self._backend.service(k) for k in keys)
                found[role] = [s for s in services if s is not None]
            self._relations[attr] = found
        return self._relations[attr]

    @property
    def producers(self):
        return self._by_role("producers")

    @property
    def consumers(self):
        return self._by_role("consumers")

    @property
    def aysrepo(self):
        return self._backend.aysrepo()

    def consume(self, producer):
        """Adds `producer` (a Service or a key) to this service's producers."""
        view = self._backend.consume(self.key, _key(producer))
        if view:
            self._load(view)

    def save(self):
        """Saves the data fields assigned since the last save."""
        self._backend.save(self)

    def saveAll(self):
        self.save()

    def __eq__(self, other):
        return isinstance(other, Service) and other.key == self.key

    def __hash__(self):
        return hash(self.key)

    def __str__(self):
        return f"service:{self.key}"

    __repr__ = __str__


class Model:
    """`service.model`: `name`, `role`, `key`, `actorName`, `data`, `dbobj` (itself), `save()`."""

    def __init__(self, service):
        self._service = service

    name = property(lambda self: self._service.name)
    role = property(lambda self: self._service.role)
    key = property(lambda self: self._service.key)
    actorName = property(lambda self: self._service.actor)
    data = property(lambda self: self._service.data)
    dbobj = property(lambda self: self)

    def save(self):
        self._service.save()


class _RunBackend:
    """Services of a run job: the relations come with the job; changes are saved by ays when the
    job ends (its data patch), so `save` does nothing."""

    def service(self, key):
        return None

    def aysrepo(self):
        raise _creation_only("service.aysrepo")

    def consume(self, consumer, producer):
        raise _creation_only("service.consume()")

    def save(self, service):
        pass


class _CreationBackend:
    """Services at creation: every read and change is a request to ays."""

    def __init__(self, channel):
        self.channel = channel

    def view(self, view):
        return Service(view, self, {}) if view else None

    def service(self, key):
        return self.view(self.channel.request("get", key=key))

    def aysrepo(self):
        return AysRepo(self)

    def consume(self, consumer, producer):
        return self.channel.request("consume", consumer=consumer, producer=producer)

    def save(self, service):
        if not service._patch:
            return
        view = self.channel.request("save", key=service.key, data=dict(service._patch))
        service._patch.clear()
        if view:
            service._load(view)


class AysRepo:
    """`service.aysrepo` at creation: `actorGet`, `serviceGet`, `servicesFind`."""

    def __init__(self, backend):
        self._backend = backend

    def actorGet(self, name, die=True):
        found = self._backend.channel.request("actor", name=name)
        if not found:
            if die:
                raise j.exceptions.NotFound(f"actor {name} not found")
            return None
        return Actor(found.get("name") or name, self._backend)

    def serviceGet(self, role, instance, die=True):
        service = self._backend.service(f"{role}!{instance}")
        if service is None and die:
            raise j.exceptions.NotFound(f"service {role}!{instance} not found")
        return service

    def servicesFind(
        self, name=None, actor=None, parent=None, producer=None, role=None, first=False, **ignored
    ):
        """Services matching every filter given (`*` and `?` wildcards in names); with `first`,
        the first of them, and j.exceptions.NotFound when there is none."""
        views = self._backend.channel.request(
            "find",
            name=name or None,
            actor=actor or None,
            role=role or None,
            parent=_key(parent),
            producer=_key(producer),
        )
        found = [self._backend.view(v) for v in views or []]
        if first:
            if not found:
                raise j.exceptions.NotFound(
                    f"no service found (name={name!r}, actor={actor!r}, role={role!r})"
                )
            return found[0]
        return found

    def __str__(self):
        return "aysrepo"


class Actor:
    """An actor at creation: `name`, `serviceCreate(instance, args=None)`."""

    def __init__(self, name, backend):
        self.name = name
        self._backend = backend

    def serviceCreate(self, instance, args=None):
        view = self._backend.channel.request(
            "create", actor=self.name, instance=instance, args=dict(args or {})
        )
        return self._backend.view(view)

    def __str__(self):
        return f"actor:{self.name}"

    __repr__ = __str__


class JobModel:
    """`job.model`: `args` (a dict, assignable), `log(msg, level, category)`."""

    def __init__(self, job, args, action):
        self._job = job
        self.args = args
        self.actionName = action

    dbobj = property(lambda self: self)

    def log(self, msg, level=None, category="msg", **ignored):
        self._job.log(msg, category=category)


class Job:
    """The `job` of a run: assignments to its own service's data are its data patch."""

    def __init__(self, doc):
        self.patch = {}
        self.logs = []
        backend = _RunBackend()
        self.service = Service(doc["service"], backend, self.patch)
        relations = {"parent": Service(doc["parent"], backend) if doc.get("parent") else None}
        for attr in ("producers", "consumers"):
            relations[attr] = {
                r: [Service(s, backend) for s in l] for r, l in (doc.get(attr) or {}).items()
            }
        self.service._relations = relations
        self.repo = doc.get("repo")
        self.run = doc.get("run")
        self.action = doc.get("action")
        self.attempt = doc.get("attempt")
        self.model = JobModel(self, doc.get("args") or {}, self.action)

    @property
    def args(self):
        return self.model.args

    def log(self, msg, category="msg", level=None, **ignored):
        self.logs.append({"category": category, "text": str(msg)})

    def error(self, msg):
        self.log(msg, "errormsg")
        raise _JobError(msg)


class CreationJob:
    """The `job` of `input` or `init` at creation: what it logs is part of its output."""

    def __init__(self, call, backend):
        self.service = Service(call["service"], backend, {})
        self.action = call.get("action")
        self.model = JobModel(self, call.get("args") or {}, self.action)
        # The repository's root, as in a run's jobs (also the working directory).
        self.repo = call.get("repo") or os.environ.get("AYS_REPO") or os.getcwd()

    @property
    def args(self):
        return self.model.args

    def log(self, msg, category="msg", level=None, **ignored):
        print(msg)

    def error(self, msg):
        self.log(msg, "errormsg")
        raise _JobError(msg)
