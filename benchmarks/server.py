"""What the benchmarks share: start a server on a free localhost port and wait for its page; its
memory; the machine's name; the no-op apps they measure DigitPad against; and the drawings a visitor
labels before the app is measured adapted to them.

`python -m benchmarks.server --noop api|pad|sketchpad` serves one of the no-op apps (on
$GRADIO_SERVER_PORT): the same inputs as DigitPad's, and nothing done with them.
"""

import argparse
import contextlib
import os
import platform
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = [sys.executable, "app.py"]
FIXTURE = ROOT / "tests" / "fixtures" / "unipen_sample.npz"  # pen-written digits of writers no model trained on


def writer_rounds(writer="syn/015", rounds=2):
    """[(label, pad value)]: `rounds` rounds of one pen writer's digits (one of each digit a round), for a
    visitor to label before the app is measured adapted to them (issue 30)."""
    import numpy as np

    from digitpad import unipen

    pen = unipen.load(FIXTURE)
    mine = [np.nonzero((pen.writers == writer) & (pen.labels == d))[0][:rounds] for d in range(10)]
    return [(d, unipen.pad_value(pen.strokes[mine[d][r]])) for r in range(rounds) for d in range(10)]


def noop_command(kind):
    return [sys.executable, "-m", "benchmarks.server", "--noop", kind]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command, timeout=120, log=None):
    """(process, url, start time, cold start seconds): start a Gradio server, wait until its page answers.
    Its output goes to the file `log`, if given."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False", "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    output = open(log, "w") if log else subprocess.DEVNULL
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    if log:
        output.close()  # the server holds its own copy
    url = f"http://127.0.0.1:{port}/"
    while time.perf_counter() - start < timeout:
        if process.poll() is not None:
            raise SystemExit(f"{' '.join(command)} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return process, url, start, time.perf_counter() - start
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{' '.join(command)} did not answer within {timeout} s")


def stop(process):
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@contextlib.contextmanager
def running(commands):
    """{name: (process, url)}: a server started for each command ({name: command}), all running at once,
    stopped at the end."""
    servers = {}
    try:
        for name, command in commands.items():
            process, url, _, _ = start_server(command)
            servers[name] = process, url
        yield servers
    finally:
        for process, _ in servers.values():
            stop(process)


def resident_mb(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def cpu_seconds(pid):
    """CPU time (user + system) used so far by the process and its children (the app's reading
    worker): what a request costs, whatever else the machine's cores were doing meanwhile."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            pids += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # a thread gone meanwhile, or a kernel without the children file
            pass
    ticks = 0
    for each in pids:
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # a child gone meanwhile
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime and stime, the stat line's 14th and 15th
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_quiet(pid, most=0.1, window_s=0.5, bound_s=60):
    """Wait, at most `bound_s`, until the server `pid` (with its children) uses less than `most` of a core
    over `window_s`; False if it never did. The app goes on starting after it answers: its own process
    loads the models and draws the charts in the background for seconds after the first page (measured
    here: both processes busy 3-4.5 s after the page showed), and a drawing timed then is timed with it."""
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        used = cpu_seconds(pid)
        time.sleep(window_s)
        if cpu_seconds(pid) - used < most * window_s:
            return True
    return False


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}"


# ---------------------------------------------------------------- the no-op apps


def serve_noop_api():
    """`predict` that does nothing with the same sketchpad input as DigitPad's API: Gradio's own cost."""
    import gradio as gr

    from digitpad.sketchpad import drawing_pad

    with gr.Blocks() as demo:
        sketch = drawing_pad()
        answer = gr.Textbox()
        sketch.change(lambda value: "ok", sketch, answer, api_name="predict")
    demo.launch()


def serve_noop_pad():
    """DigitPad's own pad, wired as on its page (one request answered directly, always the last
    drawing), whose answer only says how many points it got: the browser's and Gradio's cost."""
    import gradio as gr

    from digitpad.pad import DrawingPad

    def count(value, event: gr.EventData = None):  # the strokes: the event's data (the page), or the value
        sent = getattr(event, "_data", None)
        points = sum(len(stroke) for stroke in (sent if sent is not None else value or {}).get("strokes", []))
        return f"<span data-points='{points}'>{points} points</span>"

    def count_live(event: gr.EventData):
        return count(None, event)

    with gr.Blocks() as demo:
        sketch = DrawingPad()
        answer = gr.HTML(elem_id="noop-output")
        # As the page's pad events are declared (`ui.build_demo`): private ones, which Gradio's front end does
        # not record in its run history in the browser's localStorage. Recorded (public, as here until
        # 2026-12-06), every request re-read, parsed and rewrote the whole record three times: the no-op
        # pad's wait after a mouse-up grew from 15-20 to 30-40 ms within ten drawings of a fresh page.
        answered = {"api_visibility": "private", "queue": False, "trigger_mode": "always_last",
                    "show_progress": "hidden"}
        sketch.change(count, sketch, answer, **answered)  # the pen lifted: its value
        sketch.input(count_live, None, answer, **answered)  # the pen moving: the strokes so far, as event data
    demo.launch()


# Gradio's sketchpad starts with no tool selected: select the brush once its toolbar is drawn.
SELECT_BRUSH = """() => {
  const select = () => {
    const brush = document.querySelector('#sketchpad button[aria-label="Brush"]');
    if (!brush) { setTimeout(select, 100); return; }
    if (!brush.classList.contains('highlight')) brush.click();
  };
  select();
}"""


def serve_noop_sketchpad():
    """gr.Sketchpad at 280 px, as DigitPad's page had it before its own pad, whose one event only
    counts the drawings: the old floor (its export and upload of PNGs after every stroke)."""
    import itertools

    import gradio as gr

    from digitpad.sketchpad import drawing_pad

    count = itertools.count(1)
    with gr.Blocks() as demo:
        sketch = drawing_pad()
        answer = gr.HTML(elem_id="noop-output")  # a Textbox's new value changes no DOM a page can observe
        sketch.change(lambda value: f"<span>drawing {next(count)}</span>", sketch, answer,
                      trigger_mode="always_last", show_progress="hidden")
    demo.launch(js=SELECT_BRUSH, css="#sketchpad { width: 100%; max-width: 600px; aspect-ratio: 1 / 1; "
                                     "height: auto !important; margin: 0 auto; }")


NOOPS = {"api": serve_noop_api, "pad": serve_noop_pad, "sketchpad": serve_noop_sketchpad}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="serve a no-op app")
    parser.add_argument("--noop", choices=NOOPS, required=True)
    NOOPS[parser.parse_args().noop]()


# ---------------------------------------------------------------- the page's own request


def pad_request(url, value, session="benchmark", timeout=30):
    """(seconds, HTTP status, JSON answer) of the request the pad sends for one drawing (`DigitPad.read`,
    answered directly), as the browser sends it, from the visit `session`."""
    return post_pad(url, pad_body(url, value, session), timeout)


def pad_body(url, value, session="benchmark"):
    """The JSON body of the pad's request for one drawing, as the page sends it: the strokes as the
    change event's data, the pad's value empty (encode once, send many times)."""
    import json

    from digitpad.pad import EMPTY

    return json.dumps({"data": [EMPTY, "cnn_batchnorm", None, None], "event_data": value,
                       "fn_index": read_index(url), "session_hash": session}).encode()


def post_pad(url, body, timeout=30):
    """(seconds, HTTP status, JSON answer) of one pad request with an encoded body."""
    import json
    import urllib.error

    request = urllib.request.Request(url + "gradio_api/run/predict", data=body,
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.load(response)
            return time.perf_counter() - start, response.status, answer
    except urllib.error.HTTPError as error:
        answer = error.read()
        return time.perf_counter() - start, error.code, json.loads(answer) if answer else {}


_READ_INDEX = {}


def read_index(url, event="change"):
    """The number of the page's drawing event, answered without the queue: the pad's change (the pen
    lifted: the drawing is its value) or its input (the pen moving: the strokes so far are its data)."""
    if (url, event) not in _READ_INDEX:
        import json

        with urllib.request.urlopen(url + "config") as response:
            config = json.load(response)
        _READ_INDEX[url, event] = next(i for i, d in enumerate(config["dependencies"])
                                       if d["targets"] and d["targets"][0][1] == event and not d.get("queue", True))
    return _READ_INDEX[url, event]


def verdict(answer):
    """The verdict's HTML in an answer of `pad_request`."""
    return next((part for part in answer.get("data", []) if isinstance(part, str) and "verdict" in part), "")
