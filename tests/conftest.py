import asyncio
import os
import shutil
import subprocess
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


def _postgres_binaries():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL server on a Unix socket, or skip (fail under CI) saying why."""
    if os.environ.get("DIGITPAD_TEST_POSTGRES"):
        yield os.environ["DIGITPAD_TEST_POSTGRES"]
        return
    binaries = _postgres_binaries()
    reason = None if binaries else "PostgreSQL is not installed (apt-get install postgresql)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        reason = "the psycopg driver is not installed (pip install 'psycopg[binary]')"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}: .ci/run must provide it", pytrace=False)
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="digitpad-pg-"))
    # PostgreSQL refuses to run as root: as root, run it as the postgres user the package created.
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(folder, "postgres")
    data = folder / "data"
    run = lambda *command: subprocess.run([*as_user, *command], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(str(binaries / "initdb"), "-D", str(data), "-A", "trust", "-U", "digitpad")
    run(str(binaries / "pg_ctl"), "-D", str(data), "-w", "-l", str(folder / "log"),
        "-o", f"-k {folder} -c listen_addresses='' -p 5499", "start")
    try:
        yield f"postgresql+psycopg://digitpad@/postgres?host={folder}&port=5499"
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def pytest_sessionfinish():
    """Stop what the handlers left running on the run's event loop (the batch reader's dispatchers)."""
    async def cancel(tasks):
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    if _LOOP is not None:
        _LOOP.run_until_complete(cancel(asyncio.all_tasks(_LOOP)))
        _LOOP.close()
