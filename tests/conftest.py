import asyncio
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The app's store of labelled drawings: a throwaway SQLite file, not data/ in the repository.
os.environ.setdefault("DIGITPAD_DB", f"sqlite:///{tempfile.mkdtemp(prefix='digitpad-db-')}/drawings.sqlite")
ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "mnist_test_sample.npz"


_LOOP = None


def run(coroutine):
    """Run a handler's coroutine on one event loop for the whole run, as the server does (the app's
    batch reader and its worker connection belong to the loop they were first used on)."""
    global _LOOP
    _LOOP = _LOOP or asyncio.new_event_loop()
    return _LOOP.run_until_complete(coroutine)


@pytest.fixture(scope="session")
def mnist_sample():
    """600 MNIST test digits (a fixed random sample): (x float32 in [0, 1], y)."""
    with np.load(FIXTURE) as data:
        return data["x"].astype(np.float32) / 255.0, data["y"].astype(np.int64)


@pytest.fixture(scope="session")
def predictor():
    from digitpad.inference import Predictor

    return Predictor(ROOT / "weights")


@pytest.fixture(scope="session")
def pen_digits():
    """312 pen-written digits of UNIPEN writers no model trained on (tests/fixtures/unipen_sample.npz)."""
    from digitpad import unipen

    return unipen.load(ROOT / "tests" / "fixtures" / "unipen_sample.npz")


@pytest.fixture(scope="session")
def pen_values(pen_digits):
    """{digit: the pad value of one pen-written example of it, all five models reading it right}."""
    from digitpad import unipen

    rows = {0: 15, 1: 4, 2: 23, 3: 9, 4: 18, 5: 5, 6: 47, 7: 20, 8: 6, 9: 0}  # as the page's examples
    return {d: unipen.pad_value(pen_digits.strokes[i]) for d, i in rows.items()}


@pytest.fixture(scope="session")
def digits(mnist_sample):
    """{digit: one 28x28 example of it} from the fixture."""
    x, y = mnist_sample
    return {d: x[np.nonzero(y == d)[0][0]] for d in range(10)}


@pytest.fixture(scope="session")
def app_url():
    """The app, launched in this process on a free localhost port."""
    import socket

    from digitpad import ui

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    demo = ui.build_demo(ROOT / "weights")
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **ui.LAUNCH_OPTIONS)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


def pytest_sessionfinish():
    """Stop what the handlers left running on the run's event loop (the batch reader's dispatchers)."""
    async def cancel(tasks):
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    if _LOOP is not None:
        _LOOP.run_until_complete(cancel(asyncio.all_tasks(_LOOP)))
        _LOOP.close()
