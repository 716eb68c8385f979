"""The explorer's web app: a thin Starlette layer over :class:`~musicneurons.explore.session.Session`.

One page (``/``, its script and style served from this package: no CDN, works offline) and a small JSON API.
Security of a local server: it binds to 127.0.0.1 unless told otherwise; only Host headers naming this machine
(or the host it was started on) are answered (DNS rebinding); JSON and upload requests must carry their own
content type and, when a browser sends an Origin, this server's origin (so another site cannot post to it);
uploads are capped (2 MB, 413 before the body is read when the size is declared, or as soon as it goes over)
and parsed by the project's own extraction rules from a temp file; no request ever names a file: windows are
chosen by index into the run's table, and nothing is served from disk.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

import numpy as np

from .session import (MAX_UPLOAD_BYTES, MODEL_KEYS, MelodyError, NotARunError, RunData, Session, midi_windows,
                      moved_table, reasons_text)

MAX_JSON_BYTES = 256 * 1024
MAX_VALUE = 100.0  # |slider value| accepted (the population's range is a few units)
MAX_TEMPERATURE = 10.0
MAX_WINDOWS_LISTED = 200
_CLIENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ApiError(Exception):
    def __init__(self, status: int, message: str, **extra):
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra


# -- request parsing --------------------------------------------------------------------------------------


async def _read_body(request, limit: int, what: str) -> bytes:
    """The body, refusing (413) a declared or actual size over ``limit`` before reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            n = int(declared)
        except ValueError:
            raise ApiError(400, "bad Content-Length header") from None
        if n > limit:
            raise ApiError(413, f"{what} is {n / 2**20:.1f} MB; the limit is {limit / 2**20:g} MB",
                           limit_bytes=limit)
    chunks, total = [], 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise ApiError(413, f"{what} is over the {limit / 2**20:g} MB limit", limit_bytes=limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _check_origin(request, content_type: str):
    """Only this page may post: a fixed content type (a cross-site form cannot send it without a CORS
    preflight, which this server never grants) and, when the browser names an origin, ours."""
    ct = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ct != content_type:
        raise ApiError(415, f"send this request as {content_type} (got {ct or 'no content type'})")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        host = request.headers.get("host", "")
        if origin.split("://", 1)[-1] != host:
            raise ApiError(403, "cross-origin request refused")


async def _json(request) -> dict:
    _check_origin(request, "application/json")
    body = await _read_body(request, MAX_JSON_BYTES, "the request")
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        raise ApiError(400, "the request body is not JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


def _int(x, name, lo, hi) -> int:
    if isinstance(x, bool) or not isinstance(x, (int, float, str)):
        raise ApiError(400, f"{name} must be an integer")
    try:
        v = int(x)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be an integer, got {str(x)[:40]!r}") from None
    if isinstance(x, float) and v != x:
        raise ApiError(400, f"{name} must be an integer, got {x}")
    if not lo <= v <= hi:
        raise ApiError(400, f"{name} {v} is outside {lo}..{hi}")
    return v


def _float(x, name, lo, hi) -> float:
    if isinstance(x, bool):
        raise ApiError(400, f"{name} must be a number")
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise ApiError(400, f"{name} must be a number, got {str(x)[:40]!r}") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ApiError(400, f"{name} must be a finite number in [{lo:g}, {hi:g}], got {x}")
    return v


def _events(x, n_steps: int, name="events") -> np.ndarray:
    if not isinstance(x, list) or len(x) != n_steps:
        raise ApiError(400, f"{name} must be a list of {n_steps} integer events")
    if not all(isinstance(e, int) and not isinstance(e, bool) and 0 <= e < 90 for e in x):
        raise ApiError(400, f"{name} must hold integers in 0..89")
    return np.asarray(x, np.int64)


def _values(x, z_size: int) -> dict[int, float]:
    if x is None:
        return {}
    if not isinstance(x, dict) or len(x) > z_size:
        raise ApiError(400, "values must be an object {latent index: value}")
    return {_int(k, "latent index", 0, z_size - 1): _float(v, f"value of d{k}", -MAX_VALUE, MAX_VALUE)
            for k, v in x.items()}


def _clean(x):
    """JSON-safe floats (NaN/inf -> None)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x]
    if isinstance(x, np.generic):
        return _clean(x.item())
    return x


# -- the app ------------------------------------------------------------------------------------------------


def create_app(run_dir, device: str = "cpu", host: str = "127.0.0.1", workers: int = 2, preload: bool = True):
    """The Starlette app for one run folder; raises :class:`NotARunError` when it is not a run."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.trustedhost import TrustedHostMiddleware
    from starlette.requests import Request
    from starlette.responses import HTMLResponse, JSONResponse, Response
    from starlette.routing import Route

    from . import page

    import torch

    run = RunData(run_dir, device=device)
    threads = torch.get_num_threads()  # OpenMP's thread count is per thread: give the pool the caller's
    pool = ThreadPoolExecutor(max_workers=max(1, int(workers)), thread_name_prefix="mn-decode",
                              initializer=torch.set_num_threads, initargs=(threads,))
    latest: OrderedDict[str, int] = OrderedDict()  # client -> newest request number seen
    latest_lock = threading.Lock()

    def note_request(client, seq) -> None:
        with latest_lock:
            if seq > latest.get(client, -1):
                latest[client] = seq
            latest.move_to_end(client)
            while len(latest) > 1000:
                latest.popitem(last=False)

    def superseded(client, seq) -> bool:
        with latest_lock:
            return seq < latest.get(client, -1)

    async def off_loop(fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def key_of(value) -> str:
        key = str(value or run.keys[0])
        if key not in MODEL_KEYS:
            raise ApiError(400, f"key must be one of {', '.join(MODEL_KEYS)}")
        if key not in run.keys:
            raise ApiError(404, f"this run has no {key} model (it has {', '.join(run.keys)})")
        return key

    def model(key):
        try:
            return run.model(key)
        except NotARunError as e:
            raise ApiError(500, str(e)) from None

    def melody_payload(s: Session) -> dict:
        return {**s.melody.to_dict(), "mu": [round(float(v), 5) for v in s.mu]}

    # -- pages ---------------------------------------------------------------------------------------------

    async def index(request: Request):
        try:
            keys = RunData(run.root).keys  # the folder may have changed since start-up
        except NotARunError as e:
            return HTMLResponse(page.error_page("Not a run folder", str(e), not_a_run=True), status_code=404)
        boot = {"run": str(run.root), "run_name": run.root.resolve().name, "keys": list(keys),
                "max_upload": MAX_UPLOAD_BYTES}
        return HTMLResponse(page.index_html(boot))

    async def script(request):
        return Response(page.SCRIPT, media_type="text/javascript; charset=utf-8")

    async def style(request):
        return Response(page.STYLE, media_type="text/css; charset=utf-8")

    async def favicon(request):
        return Response(page.FAVICON, media_type="image/svg+xml")

    # -- the API ---------------------------------------------------------------------------------------------

    async def info(request: Request):
        key = key_of(request.query_params.get("key"))
        mr = await off_loop(model, key)
        s = Session(run=run, key=key, melody="twinkle")
        return JSONResponse(_clean({
            "key": key, "keys": list(run.keys), "bars": mr.bars, "n_steps": mr.n_steps, "z_size": mr.z_size,
            "model": mr.summary.get("model") or mr.model.cfg.name, "n_windows": int(len(mr.events)),
            "n_music_neurons": int(mr.summary.get("n_music_neurons") or 0),
            "music_neurons": [{"rank": int(n["rank"]), "latent_index": int(n["latent_index"])}
                              for n in mr.music_neurons()],
            "neurons": s.neurons(), "has_baseline": mr.baselines() is not None,
            "model_matches_run": mr.model_matches_run, "melody": melody_payload(s),
        }))

    async def neuron(request: Request):
        key = key_of(request.query_params.get("key"))
        mr = await off_loop(model, key)
        d = _int(request.query_params.get("index"), "index", 0, mr.z_size - 1)
        return JSONResponse(_clean(mr.neuron(d)))

    async def windows(request: Request):
        key = key_of(request.query_params.get("key"))
        mr = await off_loop(model, key)
        q = request.query_params.get("q", "")[:200]
        limit = _int(request.query_params.get("limit", 50), "limit", 1, MAX_WINDOWS_LISTED)
        t = mr.find_windows(q, limit + 1)
        rows = [{"index": int(r.index), "source": str(r.source), "window": int(r.window)}
                for r in t.head(limit).itertuples()]
        return JSONResponse({"windows": rows, "more": len(t) > limit, "n": int(len(mr.events))})

    async def melody(request: Request):
        data = await _json(request)
        key = key_of(data.get("key"))
        mr = await off_loop(model, key)
        kind = data.get("kind")
        if kind == "window":
            spec = _int(data.get("index"), "index", 0, len(mr.events) - 1)
        elif kind in ("twinkle", "random"):
            spec = kind
        elif kind == "events":
            spec = _events(data.get("events"), mr.n_steps)
        else:
            raise ApiError(400, "kind must be window, twinkle, random or events")
        seed = _int(data.get("seed", 0), "seed", 0, 2**32 - 1)

        def work():
            s = Session(run=run, key=key, melody=spec if kind != "random" else "twinkle")
            if kind == "random":
                s.set_melody("random", seed=seed)
            if kind == "events":  # an uploaded window coming back: keep its name and tempo
                s.melody.source = str(data.get("source") or "uploaded MIDI")[:200]
                s.melody.kind = "midi"
                s.melody.qpm = _float(data.get("qpm", 120.0), "qpm", 1.0, 1000.0)
            return melody_payload(s)

        return JSONResponse(_clean(await off_loop(work)))

    async def upload(request: Request):
        key = key_of(request.query_params.get("key"))
        _check_origin(request, "application/octet-stream")
        name = re.sub(r"[^\w. ()-]+", "_", request.headers.get("x-filename", "upload.mid"))[:120] or "upload.mid"
        data = await _read_body(request, MAX_UPLOAD_BYTES, name)
        if not data:
            raise ApiError(400, f"{name}: the upload is empty")
        mr = await off_loop(model, key)
        res = await off_loop(midi_windows, data, mr.bars, name)
        if not len(res.windows):
            raise ApiError(422, f"{name}: no {mr.bars}-bar melody window: {reasons_text(res.reasons, res.details)}",
                           reasons={str(k): int(v) for k, v in res.reasons.items()})
        out = [{"events": [int(e) for e in w], "first_bar": int(i.get("first_bar", 0)),
                "qpm": float(i.get("qpm", 120.0)), "window": k}
               for k, (w, i) in enumerate(zip(res.windows[:MAX_WINDOWS_LISTED], res.info))]
        return JSONResponse(_clean({"source": name, "n_windows": int(len(res.windows)), "windows": out}))

    async def decode(request: Request):
        t0 = time.perf_counter()
        data = await _json(request)
        key = key_of(data.get("key"))
        mr = await off_loop(model, key)
        events = _events(data.get("events"), mr.n_steps)
        values = _values(data.get("values"), mr.z_size)
        temperature = _float(data.get("temperature", 0.0), "temperature", 0.0, MAX_TEMPERATURE)
        seed = _int(data.get("seed", 0), "seed", 0, 2**32 - 1)
        mode = data.get("mode", "neurons")
        if mode not in ("neurons", "ab"):
            raise ApiError(400, "mode must be neurons or ab")
        b_events = _events(data.get("b_events"), mr.n_steps, "b_events") if mode == "ab" else None
        t = _float(data.get("t", 0.5), "t", 0.0, 1.0) if mode == "ab" else None
        reference = data.get("reference", "melody")
        if reference not in ("melody", "decode"):
            raise ApiError(400, "reference must be melody or decode")
        client = str(data.get("client") or "")
        seq = _int(data.get("seq", 0), "seq", 0, 2**53)
        if client and not _CLIENT.match(client):
            raise ApiError(400, "client must be 1-64 letters, digits, - or _")
        if client:
            note_request(client, seq)

        def work():
            if client and superseded(client, seq):
                return None  # a newer request from this page is waiting: skip the decode
            t1 = time.perf_counter()
            s = Session(run=run, key=key, melody=events)
            if mode == "ab":
                ev = s.interpolate(None, b_events, t, temperature, seed)
                s.decoded = ev
            else:
                s.set_neurons(values)
                ev = s.decode(temperature, seed)
            t2 = time.perf_counter()
            from ..features import compute_features
            from ..melody import events_to_notes

            ref = s.melody.events if reference == "melody" else mr.decode(s.mu, 0.0, 0)
            f = compute_features(np.stack([ref, ev]), progress=False)
            moved = moved_table(f.iloc[0], f.iloc[1], mr, None)
            return {"events": [int(e) for e in ev], "notes": events_to_notes(ev).tolist(),
                    "moved": moved.head(10).to_dict(orient="records"),
                    "features": {k: float(v) for k, v in f.iloc[1].items()},
                    "start_features": {k: float(v) for k, v in f.iloc[0].items()},
                    "decode_ms": round((t2 - t1) * 1000, 2), "reference": reference, "mode": mode}

        out = await off_loop(work)
        if out is None:
            return JSONResponse({"superseded": True, "seq": seq}, status_code=200)
        out["seq"] = seq
        out["server_ms"] = round((time.perf_counter() - t0) * 1000, 2)
        return JSONResponse(_clean(out))

    async def midi(request: Request):
        data = await _json(request)
        key = key_of(data.get("key"))
        mr = await off_loop(model, key)
        events = _events(data.get("events"), mr.n_steps)
        qpm = _float(data.get("qpm", 120.0), "qpm", 1.0, 1000.0)
        name = re.sub(r"[^\w.-]+", "_", str(data.get("name") or "explore"))[:80].strip("._") or "explore"

        def work():
            import io

            from ..melody import events_to_midi

            buf = io.BytesIO()
            events_to_midi(events, qpm=qpm).write(buf)
            return buf.getvalue()

        body = await off_loop(work)
        return Response(body, media_type="audio/midi",
                        headers={"Content-Disposition": f'attachment; filename="{name}.mid"'})

    # -- errors ----------------------------------------------------------------------------------------------

    def wants_json(request) -> bool:
        return request.url.path.startswith("/api/")

    async def api_error(request, exc: ApiError):
        if wants_json(request):
            return JSONResponse({"error": exc.message, "status": exc.status, **exc.extra}, status_code=exc.status)
        return HTMLResponse(page.error_page("Error", exc.message), status_code=exc.status)

    async def http_error(request, exc):
        status = getattr(exc, "status_code", 500)
        text = {404: "no such page: this server serves the explorer page and its API only, never files",
                405: "method not allowed"}.get(status, getattr(exc, "detail", "") or "error")
        if wants_json(request):
            return JSONResponse({"error": text, "status": status}, status_code=status)
        title = {404: "Not found", 405: "Method not allowed"}.get(status, f"Error {status}")
        return HTMLResponse(page.error_page(title, text), status_code=status)

    async def value_error(request, exc):
        status = 422 if isinstance(exc, MelodyError) else 503 if isinstance(exc, NotARunError) else 400
        extra = {"reasons": exc.reasons} if isinstance(exc, MelodyError) and exc.reasons else {}
        return await api_error(request, ApiError(status, str(exc), **extra))

    async def server_error(request, exc):
        msg = f"{type(exc).__name__}: {exc}"[:500]
        if wants_json(request):
            return JSONResponse({"error": f"internal error ({msg})", "status": 500}, status_code=500)
        return HTMLResponse(page.error_page("Internal error", msg), status_code=500)

    from starlette.exceptions import HTTPException

    @asynccontextmanager
    async def lifespan(app):
        if preload:
            await off_loop(model, run.keys[0])
        yield
        pool.shutdown(wait=False, cancel_futures=True)

    hosts = ["*"] if host in ("0.0.0.0", "::", "") else sorted({"127.0.0.1", "localhost", "::1", "[::1]", host})

    app = Starlette(
        routes=[
            Route("/", index), Route("/explore.js", script), Route("/explore.css", style),
            Route("/favicon.svg", favicon),
            Route("/api/info", info), Route("/api/neuron", neuron), Route("/api/windows", windows),
            Route("/api/melody", melody, methods=["POST"]), Route("/api/upload", upload, methods=["POST"]),
            Route("/api/decode", decode, methods=["POST"]), Route("/api/midi", midi, methods=["POST"]),
        ],
        exception_handlers={ApiError: api_error, HTTPException: http_error, ValueError: value_error,
                            Exception: server_error},
        middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts), Middleware(_SecurityHeaders)],
        lifespan=lifespan,
    )
    app.state.run = run
    return app


CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "media-src 'self' blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class _SecurityHeaders:
    """CSP (only this server's own script, style and API: nothing external can load), nosniff, no referrer."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += [(b"content-security-policy", CSP.encode()), (b"x-content-type-options", b"nosniff"),
                            (b"referrer-policy", b"no-referrer"), (b"cache-control", b"no-store")]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def serve(run_dir, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = False, device: str = "cpu",
          threads: int | None = 1, log=print):
    """Open the run, bind ``host:port`` (0 = a free port) and serve until Ctrl-C.

    Raises :class:`NotARunError` for a folder that is not a run and ``OSError`` when the port cannot be bound.
    """
    import socket

    RunData(run_dir)  # a clear error before anything starts
    if threads:
        import torch

        torch.set_num_threads(int(threads))  # one window decodes step by step: one thread is fastest
    import uvicorn

    app = create_app(run_dir, device=device, host=host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so (else every keep-alive
    # response waits ~40 ms for Nagle and the client's delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(64)
    bound = sock.getsockname()[1]
    url = f"http://{'[' + host + ']' if ':' in host else host}:{bound}/"
    log(f"explorer for {run_dir}: {url} (Ctrl-C to stop)")
    if open_browser:
        import webbrowser

        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return url


class BackgroundServer:
    """The app served from a thread on a free port (tests, benchmarks, notebooks)::

        with BackgroundServer("runs/default") as srv:
            requests.get(srv.url + "api/info")
    """

    def __init__(self, run_dir, host: str = "127.0.0.1", port: int = 0, device: str = "cpu", workers: int = 2,
                 preload: bool = True):
        import socket

        import uvicorn

        self.app = create_app(run_dir, device=device, host=host, workers=workers, preload=preload)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY: see serve
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}/"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 120
        while not self.server.started:
            if not self.thread.is_alive() or time.time() > deadline:
                raise RuntimeError("the explorer's server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()
