"""The store of labelled drawings (digitpad.drawings): round trip, concurrent writers, broken stores,
and `evaluate --drawings` on a store built here. Against SQLite always, and against a real PostgreSQL
server (Debian's postgresql, started here; under CI it must be there)."""

import shutil
import sqlite3
import threading
from pathlib import Path

import numpy as np
import pytest

from digitpad import drawn, evaluate
from digitpad.catalog import MODEL_NAMES
from digitpad.drawings import DrawingStore, StoreError
from digitpad.preprocess import to_mnist


def canvas(digit, **options):
    return np.asarray(drawn.draw(digit, **{"brush": 12, "height": 0.6, **options}))


def probabilities(top):
    return {key: np.eye(10)[top] * 0.9 + 0.01 for key in MODEL_NAMES}


# ---------------------------------------------------------------- the servers


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store(request, tmp_path):
    if request.param == "sqlite":
        return DrawingStore(f"sqlite:///{tmp_path / 'drawings.sqlite'}")
    url = request.getfixturevalue("postgres_url")
    store = DrawingStore(url)
    with store.engine.begin() as connection:  # a clean table for each test
        connection.exec_driver_sql("TRUNCATE drawings RESTART IDENTITY")
    return store


# ---------------------------------------------------------------- round trip and concurrency


def test_round_trip(store, digits, tmp_path):
    images = [canvas(digits[3]), canvas(digits[8], brush=18, place=(0.1, 0.9))]
    ids = [store.add(image, label, probabilities(label), "session-a") for image, label in zip(images, (3, 8))]
    assert ids == sorted(ids) and store.count() == 2
    assert store.export_npz(tmp_path / "out.npz") == 2
    with np.load(tmp_path / "out.npz") as exported:
        assert exported["x"].dtype == np.uint8 and exported["x"].shape == (2, 28, 28)
        for stored, image in zip(exported["x"], images):
            assert np.array_equal(stored, (to_mnist(image) * 255).round().astype(np.uint8))
        assert exported["y"].tolist() == [3, 8]
        for key in MODEL_NAMES:
            assert exported[f"predicted_{key}"].tolist() == [3, 8]


def test_forget_removes_exactly_that_visits_drawings(store, digits, tmp_path):
    """SQLite and PostgreSQL alike: forget(session) deletes that visit's drawings, says how many, and
    the export no longer sees them."""
    for label, session in [(1, "visit-a"), (2, "visit-b"), (3, "visit-a"), (4, "visit-a"), (5, "visit-b")]:
        store.add(canvas(digits[label]), label, probabilities(label), session)
    assert store.forget("visit-a") == 3 and store.count() == 2
    assert store.forget("visit-a") == 0 and store.forget("no such visit") == 0
    assert store.export_npz(tmp_path / "out.npz") == 2
    with np.load(tmp_path / "out.npz") as exported:
        assert exported["y"].tolist() == [2, 5]


def test_the_pads_strokes_are_kept_and_exported_as_a_pen_stroke_set(store, pen_values, tmp_path):
    from digitpad import unipen
    from digitpad.preprocess import read_strokes

    store.add(pen_values[4], 4, probabilities(4), "visit-1")
    store.add(pen_values[8], 8, probabilities(8), "visit-2")
    assert store.export_npz(tmp_path / "out.npz") == 2
    pen = unipen.load(tmp_path / "out.npz")  # the export reads as UNIPEN does
    assert pen.labels.tolist() == [4, 8] and pen.writers.tolist() == ["visit-1", "visit-2"]
    for strokes, value in zip(pen.strokes, (pen_values[4], pen_values[8])):
        assert len(strokes) == len(value["strokes"])
        for kept, sent in zip(strokes, value["strokes"]):
            assert np.allclose(kept, sent, atol=0.06)
    with np.load(tmp_path / "out.npz") as exported:
        expected = (read_strokes(pen_values[4]).image * 255).round().astype(np.uint8)
        assert np.abs(exported["x"][0].astype(int) - expected).max() <= 1


def test_a_store_made_before_strokes_gets_their_column(tmp_path, digits):
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as connection:  # the table as version 1.1 made it
        connection.execute("CREATE TABLE drawings (id INTEGER PRIMARY KEY, created DATETIME NOT NULL, session "
                           "VARCHAR(64) NOT NULL, label SMALLINT NOT NULL, drawing BLOB NOT NULL, mnist BLOB NOT "
                           "NULL, probabilities JSON NOT NULL)")
    store = DrawingStore(f"sqlite:///{path}")
    store.add(canvas(digits[2]), 2, probabilities(2), "old-visit")
    assert store.count() == 1 and store.export_npz(tmp_path / "out.npz") == 1


def test_sixteen_writers_lose_and_duplicate_nothing(store, digits):
    image = canvas(digits[5])
    errors = []

    def writer(number):
        try:
            for _ in range(50):
                store.add(image, 5, probabilities(5), f"session-{number}")
        except Exception as error:  # reported below: a lost write must fail the test, not the thread
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert store.count() == 800
    with store.engine.connect() as connection:
        ids = [row[0] for row in connection.exec_driver_sql("SELECT id FROM drawings")]
        sessions = connection.exec_driver_sql("SELECT session, COUNT(*) FROM drawings GROUP BY session").all()
    assert len(set(ids)) == 800 and sorted(count for _, count in sessions) == [50] * 16


@pytest.mark.slow
def test_replicas_starting_at_once_make_the_schema_once(postgres_url):
    """Eight stores opened at the same moment on an empty PostgreSQL database (replicas started
    together): none fails (two racing CREATE TABLEs would), and there is one table."""
    import sqlalchemy as sa

    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS replicas_at_once")
        connection.exec_driver_sql("CREATE DATABASE replicas_at_once")
    url = postgres_url.replace("/postgres?", "/replicas_at_once?")
    start, errors = threading.Barrier(8), []

    def open_store():
        start.wait()
        try:
            DrawingStore(url).engine.dispose()
        except StoreError as error:
            errors.append(error)

    threads = [threading.Thread(target=open_store) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert DrawingStore(url).count() == 0


def test_bad_rows_are_refused(store, digits):
    with pytest.raises(ValueError, match="0-9"):
        store.add(canvas(digits[1]), 12, probabilities(1), "s")
    with pytest.raises(ValueError, match="all five"):
        store.add(canvas(digits[1]), 1, {"cnn": np.ones(10)}, "s")
    assert store.count() == 0


# ---------------------------------------------------------------- broken stores


def test_garbage_file_is_a_clear_error(tmp_path):
    path = tmp_path / "drawings.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a database"):
        DrawingStore(f"sqlite:///{path}")


def test_a_locked_store_refuses_writes_with_a_reason_then_recovers(tmp_path, digits, monkeypatch):
    import digitpad.drawings

    url = f"sqlite:///{tmp_path / 'drawings.sqlite'}"
    DrawingStore(url).add(canvas(digits[2]), 2, probabilities(2), "s")
    monkeypatch.setattr(digitpad.drawings, "SQLITE_TIMEOUT", 0.2)
    store = DrawingStore(url)
    locker = sqlite3.connect(tmp_path / "drawings.sqlite")
    locker.execute("BEGIN IMMEDIATE")  # another process in the middle of a write
    try:
        with pytest.raises(StoreError, match="locked"):
            store.add(canvas(digits[2]), 2, probabilities(2), "s")
        assert store.count() == 1  # reading goes on meanwhile
    finally:
        locker.rollback()
        locker.close()
    store.add(canvas(digits[2]), 2, probabilities(2), "s")
    assert store.count() == 2


def test_a_read_only_store_refuses_writes_with_a_reason(tmp_path, digits):
    path = tmp_path / "drawings.sqlite"
    DrawingStore(f"sqlite:///{path}").add(canvas(digits[2]), 2, probabilities(2), "s")
    # Opened read-only (as a file without write permission is, for anyone but root).
    store = DrawingStore(f"sqlite:///file:{path}?mode=ro&uri=true")
    assert store.count() == 1
    with pytest.raises(StoreError, match="readonly"):
        store.add(canvas(digits[2]), 2, probabilities(2), "s")


def test_a_broken_store_leaves_prediction_working(tmp_path, pen_values, monkeypatch):
    from digitpad import ui
    from digitpad.challenge import Session
    from tests.conftest import ROOT, run

    (tmp_path / "drawings.sqlite").write_bytes(b"garbage" * 1000)
    monkeypatch.setenv("DIGITPAD_DB", f"sqlite:///{tmp_path / 'drawings.sqlite'}")
    app = ui.DigitPad(ROOT / "weights")
    assert app.store is None and "not a database" in app.store_problem
    reading, *panels, verdict = run(app.read(pen_values[4], "cnn_batchnorm", None))[:7]
    assert panels[4]["label"] == "4"
    session, _, _, _, status, _, _, figure, *_ = app.correct(Session(), reading, "4", True)
    assert "Saving is off" in status and "not a database" in status and "Saving is off" in figure
    assert session.score()[0] == 1  # the label still counts on the scoreboard


# ---------------------------------------------------------------- evaluate --drawings


def test_evaluate_drawings_gives_the_accuracies_computed_by_hand(tmp_path, digits, predictor, capsys):
    url = f"sqlite:///{tmp_path / 'drawings.sqlite'}"
    store = DrawingStore(url)
    # Six drawings labelled by people; two of them labelled "wrong" on purpose (a 3 said to be a 5...).
    labelled = [(digits[0], 0), (digits[1], 1), (digits[7], 7), (digits[6], 6), (digits[3], 5), (digits[9], 4)]
    for digit, label in labelled:
        store.add(canvas(digit), label, probabilities(label), "s")
    x = np.stack([to_mnist(canvas(d)) for d, _ in labelled])
    expected = {key: float((p.argmax(axis=1) == [label for _, label in labelled]).mean())
                for key, p in predictor.predict_batch(np.round(x * 255) / 255).items()}
    (tmp_path / "weights").mkdir()
    for path in (Path(__file__).parent.parent / "weights").iterdir():
        shutil.copy(path, tmp_path / "weights")
    evaluate.main(["--drawings", url, "--weights-dir", str(tmp_path / "weights"), "--record"])
    printed = capsys.readouterr().out
    recorded = __import__("json").loads((tmp_path / "weights" / "metrics.json").read_text())["drawings"]
    assert recorded["count"] == 6
    for key in MODEL_NAMES:
        assert recorded["accuracy"][key] == pytest.approx(expected[key])
        assert f"{expected[key]:.2%}" in printed
