"""Sandbox child bootstrap. Runs INSIDE the sandboxed interpreter (stdlib only, any Python >= 3.8).

The host starts `python -I -S -B -c LOADER JOB_FD`; the loader reads this file's code object
from JOB_FD and runs it in a private globals dict with a snapshot of builtins; user code gets the real builtins module, so
patching builtins never reaches the harness. It:
1. reads the job (JSON) from JOB_FD and closes it; the per-run nonce lives only in locals of
   `_main`, never in a global, file, env var or argv;
2. sets rlimits (CPU, address space, file size, open files, core 0, NPROC when given);
3. strips escape hatches that raise no audit event (pidfd_open, pidfd_send_signal);
4. installs an audit hook (see `_install_hook`) and only then compiles and runs the user code;
5. reports on RESULT_FD as `NONCE REPR` lines, then `os._exit`s (no atexit, no finalizers).

Modes: "run" (a program), "workflow" (`solve(problem, ops)`; ops calls go to the host as JSON
lines), "serve" (a candidate program: the host asks it to call its functions, one JSON line per
call, and gets plain values back; it has no nonce, nothing it says is a verdict) and "tests"
(the tests, with each candidate function replaced by a proxy that asks the host to call it in the
serve process; only plain values cross, so the verdict is computed where the candidate cannot
reach).
"""


def _main():
    import os
    import sys
    import json

    job_fd = int(sys.argv[1])
    chunks = []
    while True:
        b = os.read(job_fd, 1 << 16)
        if not b:
            break
        chunks.append(b)
    os.close(job_fd)
    job = json.loads(b"".join(chunks))
    del chunks
    nonce = job.pop("nonce")
    res_fd = job["res_fd"]
    mode = job["mode"]
    _write = os.write
    _repr = repr
    _exit = os._exit

    def emit(obj):  # repr of str/int/bool dicts runs only C code the user cannot patch
        data = (nonce + " " + _repr(obj) + "\n").encode("utf-8", "replace")
        while data:
            data = data[_write(res_fd, data):]

    # 2. rlimits: soft == hard, so the user code cannot raise them back.
    import resource

    def lim(which, value):
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    lim(resource.RLIMIT_CPU, int(job["cpu_s"]))
    lim(resource.RLIMIT_AS, int(job["memory_mb"]) << 20)
    lim(resource.RLIMIT_FSIZE, int(job["fsize_mb"]) << 20)
    lim(resource.RLIMIT_CORE, 0)
    lim(resource.RLIMIT_NOFILE, max(64, max(res_fd, job.get("rep_fd") or 0) + 1))
    if job.get("nproc"):
        lim(resource.RLIMIT_NPROC, int(job["nproc"]))

    # 3. no audit event covers pidfd signalling: remove it.
    import _signal
    import posix

    for mod, names in ((posix, ("pidfd_open",)), (os, ("pidfd_open",)), (_signal, ("pidfd_send_signal",))):
        for n in names:
            try:
                delattr(mod, n)
            except AttributeError:
                pass

    loop = None
    if mode == "workflow":  # the event loop needs a socketpair: create it before the hook
        import asyncio

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    tests_plan = None
    if mode == "tests":
        tests_plan = _plan_tests(job)
    if mode == "serve":
        import builtins

        user_builtins = builtins
    emit({"t": "ready"})

    _install_hook(os.path.realpath(os.getcwd()), job)

    if mode == "run":
        import builtins

        out = _exec_in(job["code"], {"__name__": "__main__", "__builtins__": builtins}, "<program>")
        emit(out if out is not None else {"ok": True})
    elif mode == "serve":
        _serve(job, user_builtins)
    elif mode == "tests":
        emit({"t": "plan", "total": len(tests_plan)})
        emit(_run_tests(job, tests_plan, emit))
    elif mode == "workflow":
        emit(_run_workflow(job, loop))
    _flush()
    _exit(0)


def _flush():
    import sys

    for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            s.flush()
        except BaseException:
            pass


def _s(x):
    """An exact str (a str subclass could override __repr__)."""
    if type(x) is str:
        return x
    return str.join("", [x]) if isinstance(x, str) else "<not a str>"


def _describe(e):
    try:
        name = _s(type(e).__name__)
    except BaseException:
        name = "Exception"
    try:
        msg = _s(str(e))
    except BaseException:
        msg = "<unprintable>"
    return {"ok": False, "error": name[:100], "message": msg[:2000], "memory": isinstance(e, MemoryError)}


def _exec_in(code, g, filename):
    """Run code in g; None on success, an error record otherwise (SystemExit(0/None) is success)."""
    try:
        exec(compile(code, filename, "exec"), g)
    except SystemExit as e:
        if e.code in (None, 0):
            return None
        return {"ok": False, "error": "SystemExit", "message": "exit code %r" % (e.code,)}
    except BaseException as e:
        return _describe(e)
    return None


# ---- plain values across the boundary ---------------------------------------------------------
# JSON with one-key tagged objects for the types JSON lacks. The decoder builds only built-in
# types, so nothing the candidate defines (an __eq__ that is always True, say) reaches the tests.
MAX_DEPTH = 64
MAX_ITEMS = 100_000


class Unplain(TypeError):
    """A value that cannot cross the sandbox boundary as plain data."""


def encode(x, depth=0):
    if depth > MAX_DEPTH:
        raise Unplain("value nested deeper than %d" % MAX_DEPTH)
    if x is None or type(x) in (bool, int, float, str):
        return x
    d = depth + 1
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, str):
        return str.join("", [x])
    if isinstance(x, (bytes, bytearray)):
        return {"b": bytes(x).hex()}
    if isinstance(x, complex):
        return {"c": [x.real, x.imag]}
    if isinstance(x, range):
        return {"r": [x.start, x.stop, x.step]}
    if isinstance(x, dict):
        if len(x) > MAX_ITEMS:
            raise Unplain("dict with more than %d items" % MAX_ITEMS)
        return {"d": [[encode(k, d), encode(v, d)] for k, v in x.items()]}
    for typ, tag in ((list, None), (tuple, "t"), (set, "s"), (frozenset, "f")):
        if isinstance(x, typ):
            if len(x) > MAX_ITEMS:
                raise Unplain("collection with more than %d items" % MAX_ITEMS)
            items = [encode(v, d) for v in x]
            return items if tag is None else {tag: items}
    name = type(x).__name__
    if name in ("generator", "map", "filter", "zip", "enumerate", "reversed", "list_iterator",
                "tuple_iterator", "dict_keys", "dict_values", "dict_items", "chain", "islice"):
        items = []
        for v in x:
            if len(items) >= MAX_ITEMS:
                raise Unplain("iterator with more than %d items" % MAX_ITEMS)
            items.append(encode(v, d))
        return {"i": items}
    # Anything else crosses as an opaque stand-in: its truth value and repr, never its behaviour.
    try:
        truth = bool(x) is True
        text = _s(repr(x))[:300]
    except BaseException:
        raise Unplain("a value of type %s cannot cross the sandbox boundary (plain data only)" % _s(name)[:80])
    return {"o": [_s(name)[:80], truth, text]}


def decode(x, depth=0):
    if depth > MAX_DEPTH:
        raise Unplain("value nested deeper than %d" % MAX_DEPTH)
    t = type(x)
    if x is None or t in (bool, int, float, str):
        return x
    d = depth + 1
    if t is list:
        return [decode(v, d) for v in x]
    if t is dict and len(x) == 1:
        (tag, v), = x.items()
        if tag == "b" and type(v) is str:
            return bytes.fromhex(v)
        if tag == "c" and type(v) is list and len(v) == 2:
            return complex(float(v[0]), float(v[1]))
        if tag == "r" and type(v) is list and len(v) == 3 and all(type(i) is int for i in v):
            return range(v[0], v[1], v[2])
        if type(v) is list:
            if tag == "d":
                return {decode(k, d): decode(val, d) for k, val in (_pair(p) for p in v)}
            items = [decode(i, d) for i in v]
            if tag == "t":
                return tuple(items)
            if tag == "s":
                return set(items)
            if tag == "f":
                return frozenset(items)
            if tag == "i":
                return iter(items)
            if tag == "o" and len(v) == 3 and type(v[0]) is str and type(v[1]) is bool and type(v[2]) is str:
                return Opaque(v[0], v[1], v[2])
    raise Unplain("malformed plain value")


class Opaque:
    """A program's value that is not plain data: true or false and printable, equal only to itself."""

    __slots__ = ("type_name", "truth", "text")

    def __init__(self, type_name, truth, text):
        self.type_name, self.truth, self.text = type_name, truth, text

    def __bool__(self):
        return self.truth

    def __repr__(self):
        return "<%s from the program: %s>" % (self.type_name, self.text)


def _pair(p):
    if type(p) is not list or len(p) != 2:
        raise Unplain("malformed plain value")
    return p


def _read_line(fd, buf):
    """One line from fd (blocking), keeping the rest in buf; None at EOF."""
    import os

    while b"\n" not in buf:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return None
        buf.extend(chunk)
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


def _serve(job, user_builtins):
    """The candidate: load the program, tell the host its function names, then call them on request."""
    import json
    import os

    rep_fd, res_fd = job["rep_fd"], job["res_fd"]

    def send(obj):
        try:
            data = json.dumps(obj)
        except BaseException as e:
            data = json.dumps({"id": obj.get("id"), "error": "Unplain", "message": _describe(e)["message"]})
        data = (data + "\n").encode("utf-8", "replace")
        while data:
            data = data[os.write(res_fd, data):]

    g = {"__name__": "__main__", "__builtins__": user_builtins}
    err = _exec_in(job["program"], g, "<program>")
    if err is not None:
        send({"t": "loaded", "error": err["error"], "message": err["message"]})
        return
    names = []
    for k, v in list(g.items()):
        if type(k) is str and not k.startswith("__") and callable(v) and type(v).__name__ != "module":
            names.append(k)
    send({"t": "loaded", "names": names})
    buf = bytearray()
    while True:
        line = _read_line(rep_fd, buf)
        if line is None:
            return
        req = json.loads(line)
        rid = req["id"]
        try:
            fn = g[req["name"]]
            out = fn(*decode(req["args"]), **decode(req["kwargs"]))
            send({"id": rid, "value": encode(out)})
        except SystemExit as e:
            send({"id": rid, "error": "SystemExit", "message": "exit code %r" % (e.code,)})
        except BaseException as e:
            d = _describe(e)
            send({"id": rid, "error": d["error"], "message": d["message"]})


def _program_imports(program):
    """The top-level import statements of the program (only those: nothing else of it runs here)."""
    import ast

    try:
        tree = ast.parse(program)
    except BaseException:
        return []
    return [ast.unparse(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))][:100]


def _plan_tests(job):
    """Split tests into units [(label, source, call_check)]; done before the hook (imports ast)."""
    job["imports"] = _program_imports(job.pop("program", ""))
    tests = job["tests"]
    units = []
    if isinstance(tests, str):
        if "def check(" in tests:
            units.append(("check(%s)" % job.get("entry_point"), tests, True))
        else:
            import ast

            try:
                tree = ast.parse(tests)
            except SyntaxError:
                return [("tests", tests, False)]  # fails when run, with the SyntaxError
            setup = []
            for node in tree.body:
                src = ast.get_source_segment(tests, node) or ""
                if isinstance(node, ast.Assert):
                    units.append((src, "\n".join(setup + [src]), False))
                    setup = []
                else:
                    setup.append(src)
            if setup:
                units.append(("tests", "\n".join(setup), False))
    else:
        for t in tests:
            units.append((_s(t).strip(), _s(t), "def check(" in t))
    return units


def _run_tests(job, units, emit):
    """The tests, with candidate functions as proxies to the serve process (via the host)."""
    import builtins
    import json
    import os

    rep_fd, res_fd = job["rep_fd"], job["res_fd"]
    buf = bytearray()
    counter = [0]

    def ask(op, kwargs):
        counter[0] += 1
        data = (json.dumps({"id": counter[0], "op": op, "kwargs": kwargs}) + "\n").encode()
        while data:
            data = data[os.write(res_fd, data):]
        line = _read_line(rep_fd, buf)
        if line is None:
            raise RuntimeError("the host closed the candidate channel")
        return json.loads(line)

    class CandidateError(Exception):
        """The candidate raised, or its value could not cross as plain data."""

    def proxy(name):
        def call(*args, **kwargs):
            reply = ask("call", {"name": name, "args": encode(list(args)), "kwargs": encode(kwargs)})
            if "error" in reply:
                ename, message = _s(reply["error"])[:100], _s(reply.get("message", ""))[:500]
                # a built-in exception type by name (tests may expect ValueError); never the program's class
                exc = getattr(builtins, ename, None) if ename.isidentifier() else None
                if isinstance(exc, type) and issubclass(exc, Exception) and exc.__module__ == "builtins":
                    raise exc(message)
                raise CandidateError("%s: %s" % (ename, message))
            return decode(reply["value"])
        call.__name__ = name
        return call

    total = len(units)
    loaded = ask("names", {})
    if "error" in loaded:
        return {"ok": False, "error": _s(loaded["error"])[:100], "message": _s(loaded.get("message", ""))[:2000],
                "passed": 0, "total": total, "stage": "program"}
    g = {"__name__": "__tests__", "__builtins__": dict(builtins.__dict__)}
    for stmt in job.get("imports", ()):  # the program's own imports: tests may use them (e.g. sys)
        _exec_in(stmt, g, "<program import>")
    err = _exec_in(job.get("setup") or "", g, "<setup>")
    if err is not None:
        err.update(passed=0, total=total, stage="setup")
        return err
    for name in loaded.get("names", []):
        if type(name) is str and name not in g:
            g[name] = proxy(name)
    entry_point = job.get("entry_point")
    passed = 0
    first = None
    for i, (label, src, call_check) in enumerate(units):
        err = _exec_in(src, g, "<test %d>" % (i + 1))
        if err is None and call_check:
            try:
                g["check"](g[entry_point])
            except BaseException as e:
                err = _describe(e)
        if err is None:
            passed += 1
        elif first is None:
            short = label if len(label) <= 300 else label[:300] + "..."
            why = err["error"] + (": " + err["message"] if err["message"] else "")
            first = dict(err, message="test %d failed: %s -> %s" % (i + 1, short, why))
        emit({"t": "progress", "passed": passed, "done": i + 1})
    if first is None:
        return {"ok": True, "passed": passed, "total": total}
    first.update(passed=passed, total=total)
    return first


SAFE_BUILTINS = ("len range str int float bool list dict set tuple min max sorted sum any all enumerate zip "
                 "abs round isinstance reversed print").split()


def _run_workflow(job, loop):
    import asyncio
    import builtins
    import json
    import os

    class OperatorError(Exception):
        """An operator call failed on the host."""

    rep_fd, res_fd = job["rep_fd"], job["res_fd"]
    pending = {}
    buf = bytearray()
    counter = [0]

    def on_reply():
        chunk = os.read(rep_fd, 1 << 16)
        if not chunk:
            loop.remove_reader(rep_fd)
            for f in pending.values():
                if not f.done():
                    f.set_exception(OperatorError("host closed the operator channel"))
            return
        buf.extend(chunk)
        while b"\n" in buf:
            line, _, rest = bytes(buf).partition(b"\n")
            buf[:] = rest
            msg = json.loads(line)
            fut = pending.pop(msg["id"], None)
            if fut is None or fut.done():
                continue
            if "error" in msg:
                fut.set_exception(OperatorError(msg["error"]))
            else:
                fut.set_result(msg.get("result"))

    loop.add_reader(rep_fd, on_reply)

    class Ops:
        __slots__ = ()

        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(name)

            async def call(**kwargs):
                counter[0] += 1
                rid = counter[0]
                try:
                    data = (json.dumps({"id": rid, "op": name, "kwargs": kwargs}) + "\n").encode()
                except (TypeError, ValueError, RecursionError) as e:
                    raise OperatorError("%s: arguments are not JSON data (%s)" % (name, e)) from None
                fut = loop.create_future()
                pending[rid] = fut
                while data:
                    data = data[os.write(res_fd, data):]
                return await fut

            return call

    safe = {n: getattr(builtins, n) for n in SAFE_BUILTINS}
    safe.update(OperatorError=OperatorError, Exception=Exception, gather=asyncio.gather)
    g = {"__builtins__": safe, "__name__": "workflow",
         "asyncio": type("asyncio", (), {"gather": staticmethod(asyncio.gather)})()}
    err = _exec_in(job["source"], g, "<workflow>")
    if err is not None:
        return err
    solve = g.get("solve")
    if solve is None:
        return {"ok": False, "error": "WorkflowError", "message": "workflow defines no solve(problem, ops)"}
    try:
        value = loop.run_until_complete(solve(job["problem"], Ops()))
        text = _s(str(value))
    except BaseException as e:
        return _describe(e)
    return {"ok": True, "result": text[: int(job["max_result_chars"])]}


def _install_hook(scratch, job):
    """Audit hook: the in-process policy, a second layer behind the OS (see the package docstring).
    Raises PermissionError for anything outside it."""
    import os
    import sys

    realpath, fspath, isabs, join, getcwd, getpid = (os.path.realpath, os.fsdecode, os.path.isabs,
                                                     os.path.join, os.getcwd, os.getpid)
    sep = os.sep
    read_roots = tuple(realpath(p) for p in job["read_roots"]) + (scratch,)
    read_files = frozenset(("/dev/null", "/dev/urandom", "/dev/random", "/dev/zero"))
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    importlib_files = ("<frozen importlib._bootstrap>", "<frozen importlib._bootstrap_external>")
    deny_imports = frozenset(("ctypes", "_ctypes", "_posixsubprocess", "subprocess", "multiprocessing",
                              "_multiprocessing", "_xxsubinterpreters", "_testcapi", "_testinternalcapi",
                              "posix", "_signal", "pty", "_socket", "socket", "ssl", "_ssl"))
    deny_events = frozenset((
        "os.fork", "os.forkpty", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "os.startfile",
        "subprocess.Popen", "pty.spawn", "os.symlink", "os.link", "os.chroot", "os.setxattr", "os.removexattr",
        "sys._current_frames", "sys.settrace", "sys.setprofile", "gc.get_objects", "gc.get_referrers",
        "gc.get_referents", "code.__new__", "function.__new__", "webbrowser.open", "urllib.Request",
        "http.client.connect", "ftplib.connect", "smtplib.connect", "imaplib.open", "poplib.connect",
        "telnetlib.Telnet.open", "nntplib.connect", "winreg.OpenKey", "mmap.__new__", "sys._getframemodulename"))
    path_events = frozenset(("os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.chown",
                             "os.utime", "os.truncate", "os.chflags", "os.lchflags", "os.chdir",
                             "shutil.rmtree", "shutil.copyfile", "shutil.copymode", "shutil.copystat",
                             "shutil.move", "shutil.chown", "os.mkfifo", "os.mknod"))
    frame_attrs = frozenset(("tb_frame", "gi_frame", "cr_frame", "ag_frame", "f_back", "gi_code", "cr_code",
                             "ag_code"))
    state = {"busy": False}

    def under(p, roots):
        return any(p == r or p.startswith(r + sep) for r in roots)

    def resolve(path):
        # Only exact str/bytes: a path object's __fspath__ (or a str subclass's methods) would run
        # user code inside the hook and could answer differently to the hook and to the kernel.
        if isinstance(path, str):
            p = str.join("", [path])
        elif isinstance(path, (bytes, bytearray)):
            p = fspath(b"".join([path]))
        else:
            deny("path", "only str or bytes paths are allowed")
        if not isabs(p):
            p = join(getcwd(), p)
        return realpath(p)

    def deny(event, detail=""):
        raise PermissionError("sandbox: %s blocked%s" % (event, (": " + detail) if detail else ""))

    def caller_file():
        f = sys._getframe(3)  # 0: this, 1: _check, 2: hook, 3: whoever raised the event
        return f.f_code.co_filename

    def hook(event, args):
        if state["busy"]:
            return
        state["busy"] = True
        try:
            _check(event, args)
        finally:
            state["busy"] = False

    def _check(event, args):
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(path, int) or path is None:
                return
            p = resolve(path)
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & write_flags)
            if writing:
                if not under(p, (scratch,)):
                    deny("write", p)
            elif not (p in read_files or under(p, read_roots)):
                deny("read", p)
        elif event in ("os.listdir", "os.scandir"):
            path = args[0] if args else None
            if isinstance(path, int):
                return
            p = resolve("." if path is None else path)
            if not under(p, read_roots):
                deny(event, p)
        elif event in path_events:
            for a in args:
                if a is None or isinstance(a, (int, float, tuple)):
                    continue  # fds, modes, times
                p = resolve(a)
                if not under(p, (scratch,)):
                    deny(event, p)
        elif event in deny_events or event.startswith(("socket.", "ctypes.", "os.exec", "os.spawn")):
            deny(event)
        elif event in ("os.kill", "os.killpg"):
            if event == "os.killpg" or args[0] != getpid():
                deny(event, "signals to other processes")
        elif event == "import":
            name = _s(args[0])
            if name in deny_imports or name.split(".")[0] in deny_imports:
                deny("import", name)
        elif event == "sys._getframe":
            # ValueError is what stdlib callers (namedtuple, enum, typing) already tolerate.
            raise ValueError("sandbox: frame access blocked")
        elif event == "object.__getattr__":
            if len(args) > 1 and args[1] in frame_attrs:
                deny("frame access", args[1])
        elif event == "object.__setattr__":
            if len(args) > 1 and args[1] in ("__code__", "__globals__"):
                deny("code replacement")
        elif event in ("marshal.loads", "marshal.load"):
            if caller_file() not in importlib_files:
                deny(event)

    sys.addaudithook(hook)


_main()
