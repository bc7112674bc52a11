"""Sandbox child bootstrap. Runs INSIDE the sandboxed interpreter (stdlib only, any Python >= 3.8).

The host passes this file's text with `python -I -S -B -c SOURCE JOB_FD`. The bootstrap:
1. reads the job (JSON) from JOB_FD and closes it; the per-run nonce lives only in locals of
   `_main`, never in a global, file, env var or argv;
2. sets rlimits (CPU, address space, file size, open files, core 0, NPROC when not root);
3. strips escape hatches that raise no audit event (pidfd_open, pidfd_send_signal);
4. installs an audit hook (see `_install_hook`) and only then compiles and runs the user code;
5. reports on RESULT_FD as `NONCE JSON` lines, then `os._exit`s (no atexit, no finalizers).
Messages without the nonce (e.g. written by the user code to the same fd) are ignored by the host.
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
    if os.getuid() != 0:  # root ignores RLIMIT_NPROC
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
    emit({"t": "ready"})

    _install_hook(os.path.realpath(os.getcwd()), job)

    if mode == "run":
        out = _run_program(job["code"], "__main__", "<program>")
        emit(out)
    elif mode == "tests":
        emit({"t": "plan", "total": len(tests_plan)})
        g = {"__name__": "__candidate__", "__builtins__": __builtins__}
        out = _exec_in(job["program"], g, "<program>")
        if out is not None:
            out.update(passed=0, total=len(tests_plan), stage="program")
            emit(out)
        else:
            emit(_run_tests(tests_plan, g, job.get("entry_point"), emit))
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


def _run_program(code, name, filename):
    err = _exec_in(code, {"__name__": name, "__builtins__": __builtins__}, filename)
    return err if err is not None else {"ok": True}


def _plan_tests(job):
    """Split tests into units [(label, source, call_check)]; done before the hook (imports ast)."""
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


def _run_tests(units, g, entry_point, emit):
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
        return {"ok": True, "passed": passed, "total": len(units)}
    first.update(passed=passed, total=len(units))
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
                data = (json.dumps({"id": rid, "op": name, "kwargs": kwargs}) + "\n").encode()
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
    """Audit hook: the in-process policy. Raises PermissionError for anything outside it."""
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
        p = fspath(path)
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
                if isinstance(a, (str, bytes)) or hasattr(a, "__fspath__"):
                    p = resolve(a)
                    if not under(p, (scratch,)):
                        deny(event, p)
        elif event in deny_events or event.startswith(("socket.", "ctypes.", "os.exec", "os.spawn")):
            deny(event)
        elif event in ("os.kill", "os.killpg"):
            if event == "os.killpg" or args[0] != getpid():
                deny(event, "signals to other processes")
        elif event == "import":
            name = args[0]
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
