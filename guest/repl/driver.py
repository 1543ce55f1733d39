# msb REPL driver for Python (run as `python3 -u -c <this>` by msb-agent).
#
# Requests come on fd 3, responses go to fd 4, both framed as
#   <decimal length> "\n" <payload>
# A request's payload is the code (UTF-8 bytes, no NUL); a response's is one
# JSON object: {"status": "ok"|"error"|"timeout", "value": str,
# "error": {"type", "message", "traceback"} | null, "outputs": [{"mime",
# "data"}]}. The code's own output goes to fd 1 and 2, never to fd 4, so
# nothing it prints can end a run early. Both fds move to close-on-exec
# descriptors at start, so that processes the code starts never get them.
#
# The agent interrupts a run with SIGINT (KeyboardInterrupt); outside of
# runs SIGINT is ignored so that a late one cannot hurt the driver.
def _msb_main():
    import ast, base64, json, linecache, os, signal, sys, traceback

    rfd = os.dup(3)  # os.dup: non-inheritable (close-on-exec)
    wfd = os.dup(4)
    os.close(3)
    os.close(4)
    MAX_VALUE = 256 * 1024
    MAX_OUTPUT = 512 * 1024
    MAX_TEXT = 64 * 1024
    rich = (("_repr_html_", "text/html"), ("_repr_markdown_", "text/markdown"),
            ("_repr_svg_", "image/svg+xml"), ("_repr_png_", "image/png"),
            ("_repr_jpeg_", "image/jpeg"), ("_repr_latex_", "text/latex"),
            ("_repr_json_", "application/json"))
    # The code runs in __main__'s own namespace, so that pickle and
    # dataclasses find what it defines.
    g = sys.modules["__main__"].__dict__
    g.pop("_msb_main", None)
    state = {"n": 0, "handler": signal.default_int_handler}

    def ignore_sigint():
        # A late KeyboardInterrupt may land here: retry until it holds.
        while True:
            try:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                return
            except KeyboardInterrupt:
                pass

    ignore_sigint()

    def read_exact(n):
        parts = []
        while n > 0:
            b = os.read(rfd, min(n, 1 << 20))
            if not b:
                return None
            parts.append(b)
            n -= len(b)
        return b"".join(parts)

    def read_request():
        line = b""
        while not line.endswith(b"\n"):
            b = os.read(rfd, 1)
            if not b or len(line) > 20:
                return None
            line += b
        try:
            n = int(line)
        except ValueError:
            return None
        return read_exact(n)

    def clean(s, cap=MAX_TEXT):
        if not isinstance(s, str):
            s = str(s)
        if len(s) > cap:
            s = s[:cap] + "\n... (truncated)"
        # No lone surrogates: the agent only accepts valid UTF-8.
        return s.encode("utf-8", "backslashreplace").decode("utf-8")

    def send(obj):
        data = json.dumps(obj).encode()
        data = str(len(data)).encode() + b"\n" + data
        while data:
            n = os.write(wfd, data)
            data = data[n:]

    def flush():
        for f in (sys.stdout, sys.stderr):
            try:
                f.flush()
            except Exception:
                pass

    def user_tb(tb, fname):
        # Start at the first frame of the cell: the driver's own frames
        # (and ast.parse's, for a SyntaxError) are not the user's.
        t = tb
        while t is not None and t.tb_frame.f_code.co_filename != fname:
            t = t.tb_next
        return t

    def error_of(e, fname):
        tb = user_tb(e.__traceback__, fname)
        text = "".join(traceback.format_exception(type(e), e, tb))
        return {"type": clean(type(e).__name__, 256), "message": clean(str(e)),
                "traceback": clean(text)}

    def outputs_of(v):
        outs = []
        total = 0
        for meth, mime in rich:
            f = getattr(v, meth, None)
            if not callable(f) or isinstance(v, type):
                continue
            try:
                d = f()
                if isinstance(d, tuple):  # (data, metadata)
                    d = d[0]
                if d is None:
                    continue
                if isinstance(d, (bytes, bytearray)):
                    d = base64.b64encode(bytes(d)).decode()
                elif mime == "application/json" and not isinstance(d, str):
                    d = json.dumps(d, default=str)
                d = clean(d, 1 << 30)
            except Exception:
                continue
            if total + len(d) > MAX_OUTPUT:
                continue
            total += len(d)
            outs.append({"mime": mime, "data": d})
        return outs

    CO_COROUTINE = 0x80

    def await_(coro):
        import asyncio
        return asyncio.get_event_loop_policy().get_event_loop().run_until_complete(coro)

    def run(code):
        state["n"] += 1
        fname = "<cell %d>" % state["n"]
        text = code.decode("utf-8", "replace")
        linecache.cache[fname] = (len(text), None, text.splitlines(True), fname)
        res = {"status": "ok", "value": "", "error": None, "outputs": []}
        try:
            try:
                signal.signal(signal.SIGINT, state["handler"])
                tree = ast.parse(code, fname, "exec")
                last = None
                if tree.body and isinstance(tree.body[-1], ast.Expr):
                    last = ast.Expression(tree.body.pop().value)
                flags = getattr(ast, "PyCF_ALLOW_TOP_LEVEL_AWAIT", 0)
                c = compile(tree, fname, "exec", flags=flags)
                r = eval(c, g)
                if c.co_flags & CO_COROUTINE:  # top-level await
                    r = await_(r)
                v = None
                if last is not None:
                    c = compile(last, fname, "eval", flags=flags)
                    v = eval(c, g)
                    if c.co_flags & CO_COROUTINE:
                        v = await_(v)
                if v is not None:
                    g["_"] = v
                    res["value"] = clean(repr(v), MAX_VALUE)
                    res["outputs"] = outputs_of(v)
            finally:
                h = signal.getsignal(signal.SIGINT)
                ignore_sigint()
                state["handler"] = signal.default_int_handler if h is None else h
        except KeyboardInterrupt as e:
            ignore_sigint()
            res["status"] = "timeout"
            res["error"] = error_of(e, fname)
            res["error"]["message"] = "interrupted (SIGINT: the timeout or msb_repl_interrupt)"
        except BaseException as e:  # SystemExit too: the state stays
            ignore_sigint()
            res["status"] = "error"
            res["error"] = error_of(e, fname)
        return res

    while True:
        code = read_request()
        if code is None:
            return
        try:
            res = run(code)
        except BaseException as e:  # a KeyboardInterrupt at a bad moment
            ignore_sigint()
            res = {"status": "timeout" if isinstance(e, KeyboardInterrupt)
                   else "error", "value": "", "outputs": [],
                   "error": {"type": type(e).__name__, "message": clean(str(e)),
                             "traceback": ""}}
        flush()
        try:
            send(res)
        except (BrokenPipeError, OSError):
            return


_msb_main()
