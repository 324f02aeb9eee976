"""Bounded load test of a DigitPad-style `predict` endpoint on this machine (loopback only).

`python -m benchmarks.load --url http://127.0.0.1:7860/ --requests 2000 --concurrency 16`
sends drawings of known digits from `concurrency` callers, each with its own gradio_client, until
`requests` answers are in (or the time limit passes), then reports errors, lost requests and
latency percentiles. With `check=True` every answer is compared with the expected one.
"""

import argparse
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
from gradio_client import Client, handle_file

TIME_LIMIT = 600  # s: the test stops by itself whatever happens


def make_drawings(count=20, folder=None):
    """[(png path, digit)]: MNIST-fixture digits drawn as sketchpad canvases, saved as PNG."""
    from digitpad import drawn

    fixture = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "mnist_test_sample.npz"
    with np.load(fixture) as data:
        x, y = data["x"] / 255.0, data["y"]
    folder = Path(folder or tempfile.mkdtemp(prefix="digitpad-load-"))
    drawings = []
    for i, (canvas, label) in enumerate(drawn.canvases(x, y, count, seed=3)):
        path = folder / f"{i:03d}_{label}.png"
        canvas.save(path)
        drawings.append((path, label))
    return drawings


def payload(path):
    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def percentile(values, q):
    return float(np.percentile(values, q)) if values else float("nan")


def run(url, drawings, requests, concurrency, expected=None):
    """Send `requests` drawings from `concurrency` callers; returns a summary dict.

    `expected[i]` is the answer the i-th drawing must get (None: any answer that is not an error).
    """
    host = urlparse(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"load tests target this machine only, not {host}")
    counter = iter(range(requests))
    lock = threading.Lock()
    latencies, errors, wrong = [], [], []
    deadline = time.monotonic() + TIME_LIMIT

    def caller():
        client = Client(url, verbose=False)
        while time.monotonic() < deadline:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            path, _ = drawings[i % len(drawings)]
            start = time.perf_counter()
            try:
                result = client.predict(payload(path), api_name="/predict")
            except Exception as error:  # counted and reported, never raised: the run goes on
                with lock:
                    errors.append(repr(error)[:200])
                continue
            elapsed = time.perf_counter() - start
            with lock:
                latencies.append(elapsed)
                if expected is not None and result != expected[i % len(drawings)]:
                    wrong.append(i)

    threads = [threading.Thread(target=caller, daemon=True) for _ in range(concurrency)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, deadline - time.monotonic()))
    seconds = time.perf_counter() - start
    answered = len(latencies)
    return {
        "requests": requests,
        "answered": answered,
        "errors": len(errors),
        "wrong": len(wrong),
        "lost": requests - answered - len(errors),
        "seconds": seconds,
        "throughput": answered / seconds,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p95_ms": percentile(latencies, 95) * 1000,
        "first_errors": errors[:3],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:7860/")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args(argv)
    summary = run(args.url, make_drawings(), args.requests, args.concurrency)
    for key, value in summary.items():
        print(f"{key:>12}: {value:.1f}" if isinstance(value, float) else f"{key:>12}: {value}")
    raise SystemExit(1 if summary["errors"] or summary["lost"] else 0)


if __name__ == "__main__":
    main()
