"""Reading drawings on every core the server may use: a worker process that holds the five models.

The server's event loop (Gradio: HTTP, JSON, the views) runs in one Python thread, and so, under the
GIL, would the reading (strokes -> 28x28 -> the fused five-model call) if it ran in the same process:
measured on this 2-core machine, the second core added nothing. With two or more usable cores the
batches of `serving.BatchReader` go to a process of their own, which reads them and sends the
Predictions back; with one core (a pinned server, a 1-vCPU container) they are read in the server's
own process, where the hand-over would only cost.

The worker loads TensorFlow and the models again: 676 MB resident beside the server's 756 MB
(`python app.py` at rest on this machine, measured with ps).
"""

import asyncio
import collections
import concurrent.futures
import os
import pickle
import socket
import struct
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def usable_cores():
    """The CPUs this process may really use: its affinity, and a container's CPU quota (cgroup v2),
    not `os.cpu_count()`, which inside a Space's container can report the host's cores."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cores = min(cores, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cores


def wants_worker():
    """Read in a worker process? $DIGITPAD_WORKER=1/0 decides; else yes with two or more usable cores."""
    setting = os.environ.get("DIGITPAD_WORKER", "")
    return setting == "1" if setting in ("0", "1") else usable_cores() >= 2


def read_batch(predictor, drawings, layers_of, shown):
    """[(Prediction, its views)]: the drawings read in one fused call, and what each drawing's answer
    shows (`views.drawing_views`); `shown` holds (points, (key, layer name) to inspect or None) for each
    drawing. The views are made here, where the models are, so that the server's loop only sends them."""
    from digitpad import views

    predictions = predictor.predict_many(drawings, layers_of)
    return [(prediction, views.drawing_views(predictor, prediction, *wanted))
            for prediction, wanted in zip(predictions, shown)]


def _serve(weights_dir, connection):
    """The worker: load the models, then read each batch sent until the pipe closes."""
    from digitpad.inference import Predictor  # first: it sets how TensorFlow is to load (oneDNN off)
    from digitpad.serving import freeze_loaded_objects

    import tensorflow as tf

    # One thread for TensorFlow's ops: the worker has one core's share, and an op split over two threads
    # waits for whichever the busy server's core runs last (batches took 5x longer at the 95th percentile).
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    try:
        predictor = Predictor(weights_dir)
    except Exception as error:  # the server reports it on every drawing
        connection.send(("error", error))
        return
    freeze_loaded_objects()
    connection.send(("ready", None))
    while True:
        try:
            batch = connection.recv()
        except (EOFError, OSError):  # the server closed its end, or is gone
            return
        try:
            connection.send(("ok", read_batch(predictor, *batch)))
        except Exception as error:
            connection.send(("error", error))


STOPPED = "The reader process stopped; it is starting again: draw once more."


class WorkerReader:
    """`await read_batch(drawings, layers_of, shown)` (see `read_batch` above), done by a worker process
    that holds the models, spoken to from the server's event loop (no thread of the server's waits
    on it). Batches sent while one is read are answered in order. A worker that dies is started
    again; the batches it held fail with a message (STOPPED)."""

    def __init__(self, weights_dir):
        self.weights_dir = str(weights_dir)
        self._start()

    def _start(self):
        # A fresh interpreter (no forked TensorFlow state, and not the app's entry script run again, as
        # multiprocessing's spawn would), speaking multiprocessing's framing (a 4-byte length, then a
        # pickle) over a socket pair.
        parent, child = socket.socketpair()
        self.process = subprocess.Popen([sys.executable, "-m", "digitpad.workers", str(child.fileno()),
                                         self.weights_dir], pass_fds=[child.fileno()], cwd=ROOT)
        child.close()
        self._socket, self._streams, self._in_flight = parent, None, collections.deque()

    async def read_batch(self, drawings, layers_of, shown):
        if self._streams is None:  # first use, in the server's loop: connect, then wait for the models
            self._streams = await asyncio.open_unix_connection(sock=self._socket)
            self._ready = asyncio.get_running_loop().create_future()
            asyncio.ensure_future(self._receive(*self._streams))
        await asyncio.shield(self._ready)  # raises why the worker cannot read
        message = pickle.dumps((drawings, layers_of, shown), protocol=pickle.HIGHEST_PROTOCOL)
        answer = asyncio.get_running_loop().create_future()
        self._in_flight.append(answer)
        self._streams[1].write(struct.pack("!i", len(message)) + message)
        return await answer

    async def _receive(self, reader, writer):
        """The worker's answers, in the order the batches were sent."""
        async def message():
            size, = struct.unpack("!i", await reader.readexactly(4))
            return pickle.loads(await reader.readexactly(size))

        try:
            status, error = await message()
            if status == "error":
                self._ready.set_exception(error)
                return
            self._ready.set_result(True)
            while True:
                status, result = await message()
                answer = self._in_flight.popleft()
                (answer.set_result if status == "ok" else answer.set_exception)(result)
        except (asyncio.IncompleteReadError, OSError):  # the worker died: fail what it held, start another
            lost = list(self._in_flight) + ([] if self._ready.done() else [self._ready])
            writer.close()
            self._start()
            for answer in lost:
                answer.set_exception(RuntimeError(STOPPED))


class LocalReader:
    """`await read_batch(...)` in the server's own process, on one thread of its own (so that the event
    loop goes on answering while a batch is read): for one usable core, where a worker would only
    add the hand-over. `predictor` is called for the Predictor (it waits for the models to load)."""

    def __init__(self, predictor):
        self._predictor = predictor
        self._thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="digitpad-reader")

    async def read_batch(self, drawings, layers_of, shown):
        return await asyncio.get_running_loop().run_in_executor(
            self._thread, lambda: read_batch(self._predictor(), drawings, layers_of, shown))


if __name__ == "__main__":  # python -m digitpad.workers FD WEIGHTS_DIR: started by WorkerReader
    _serve(sys.argv[2], Connection(int(sys.argv[1])))
