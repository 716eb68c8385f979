"""Latency of one explorer request: a decode of the changed latent, through the Python API and through HTTP.

For each model key, ~50 requests as the page makes them while a slider is dragged: the starting melody is a run
window (a different one every request), the rank-1 music neuron is set to a value swept across its 1st-99th
percentile, and the latent is decoded greedily. Timed per request:

- ``session_decode``: ``Session.decode()`` alone (the model's greedy decode of one window);
- ``session_request``: ``Session.set_melody`` (cached encode) + ``set_neuron`` + ``decode`` + ``features_moved``
  (what the server does for one request);
- ``http``: ``POST /api/decode`` to ``musicneurons explore RUN --port 0`` in its own process (uvicorn, the decode
  in its thread pool), round trip seen by an HTTP client (keep-alive, TCP_NODELAY, as a browser), JSON
  encoding and decoding included; ``http_server_side`` is the handler's own time, ``http_decode_only`` the
  decode inside it.

Each run folder is a finished ``musicneurons reproduce`` run; without ``--run-2bar`` a small one (120 windows of
the shipped ``mn-mel_2bar``) is made in a temp folder. 16-bar rows need ``--run-16bar`` (a 16-bar run takes
minutes to make: ``musicneurons reproduce --models 16bar --n-melodies 100 --no-metrics -o RUN``).

    .venv/bin/python benchmarks/bench_explore.py [--run-2bar RUN] [--run-16bar RUN] [--n 50] [--threads 1]

Prints a table and writes ``benchmarks/results/explore.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "explore.json"


def stats(ms) -> dict:
    a = np.asarray(ms, float)
    return {"median_ms": float(np.median(a)), "p90_ms": float(np.percentile(a, 90)), "min_ms": float(a.min()),
            "max_ms": float(a.max()), "n": int(a.size)}


@contextlib.contextmanager
def explore_server(run_dir: Path, threads: int):
    """``musicneurons explore RUN --port 0`` in its own process, as a user runs it; yields its port."""
    exe = Path(sys.executable).with_name("musicneurons")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "musicneurons"]
    proc = subprocess.Popen([*cmd, "explore", str(run_dir), "--port", "0", "--threads", str(threads)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        if not m:
            raise RuntimeError(f"the explorer did not start: {line}{proc.stderr.read()[-2000:]}")
        port = int(m.group(1))
        for _ in range(600):  # the model loads before the first request is answered
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def bench_key(run_dir: Path, key: str, n: int, threads: int) -> dict:
    from musicneurons.explore import Session

    s = Session(run_dir, key=key)
    top = s.neurons(1)[0]
    d = top["latent_index"]
    values = np.linspace(top["lo"], top["hi"], n)
    windows = [i % len(s.mr.events) for i in range(n)]
    for i in range(3):  # warm-up (first calls allocate)
        s.set_melody(windows[i])
        s.decode()
    decode_ms, request_ms = [], []
    for i, v in zip(windows, values):
        s.set_melody(i)
        s.set_neuron(d, float(v))
        t0 = time.perf_counter()
        s.decode()
        decode_ms.append((time.perf_counter() - t0) * 1000)
    for i, v in zip(windows, values):
        t0 = time.perf_counter()
        s.set_melody(i)
        s.set_neuron(d, float(v))
        s.decode()
        s.features_moved()
        request_ms.append((time.perf_counter() - t0) * 1000)

    http_ms, server_ms, server_decode_ms = [], [], []
    with explore_server(run_dir, threads) as port:
        # http.client sends headers and body in one segment (as browsers do, with TCP_NODELAY): no 40 ms
        # Nagle / delayed-ACK stall that a client writing them apart would add
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        c.connect()
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        events = [s.mr.events[i].tolist() for i in windows]

        def post(body):
            c.request("POST", "/api/decode", body=json.dumps(body).encode(),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, json.loads(r.read())

        for k in range(3):
            post({"key": key, "events": events[k], "values": {str(d): float(values[k])}})
        for k, v in enumerate(values):
            body = {"key": key, "events": events[k], "values": {str(d): float(v)}, "temperature": 0, "seed": 0}
            t0 = time.perf_counter()
            status, j = post(body)
            http_ms.append((time.perf_counter() - t0) * 1000)
            assert status == 200 and len(j["events"]) == s.n_steps, j
            server_ms.append(j["server_ms"])
            server_decode_ms.append(j["decode_ms"])
        c.close()
    return {"key": key, "model": s.mr.model.cfg.name, "steps": s.n_steps, "latent_index": d,
            "session_decode": stats(decode_ms), "session_request": stats(request_ms), "http": stats(http_ms),
            "http_server_side": stats(server_ms), "http_decode_only": stats(server_decode_ms)}


def small_run(folder: Path) -> Path:
    from musicneurons.pipeline import Settings, reproduce

    s = Settings(n_melodies=120, keys=("2bar",), n_intervention_melodies=8, n_traversed=2, metrics=False)
    reproduce(folder, s, log=lambda *_: None, report=False)
    return folder


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run-2bar", type=Path, default=None)
    ap.add_argument("--run-16bar", type=Path, default=None)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (musicneurons explore's default is 1)")
    ap.add_argument("-o", "--output", type=Path, default=OUT)
    a = ap.parse_args()

    import torch

    torch.set_num_threads(a.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        run2 = a.run_2bar or small_run(Path(tmp) / "run")
        rows.append(bench_key(run2, "2bar", a.n, a.threads))
        if a.run_16bar is not None:
            rows.append(bench_key(a.run_16bar, "16bar", a.n, a.threads))
    cpu = ""
    try:
        cpu = next(ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    result = {
        "benchmark": "explore",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "platform": platform.platform(), "cpu": cpu,
                    "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "load_average_1m": os.getloadavg()[0]},
        "versions": {"torch": torch.__version__, "numpy": np.__version__},
        "requests_per_key": a.n,
        "rows": rows,
    }
    a.output.parent.mkdir(parents=True, exist_ok=True)
    a.output.write_text(json.dumps(result, indent=1))
    print(f"{'model':16s} {'steps':>5s}  {'decode (API)':>13s}  {'request (API)':>13s}  {'HTTP round trip':>15s}  "
          f"{'p90 HTTP':>8s}")
    for r in rows:
        print(f"{r['model']:16s} {r['steps']:5d}  {r['session_decode']['median_ms']:10.1f} ms  "
              f"{r['session_request']['median_ms']:10.1f} ms  {r['http']['median_ms']:12.1f} ms  "
              f"{r['http']['p90_ms']:5.1f} ms")
    print(f"medians over {a.n} requests each; torch threads {torch.get_num_threads()}; load average "
          f"{result['machine']['load_average_1m']:.1f} on {result['machine']['cpus']} CPUs -> {a.output}")


if __name__ == "__main__":
    main()
