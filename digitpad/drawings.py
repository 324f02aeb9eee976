"""A store of labelled drawings, kept only with the visitor's consent: the test set of the app as used.

`DrawingStore(url)` takes an SQLAlchemy URL: by default $DIGITPAD_DB, else an SQLite file,
data/drawings.sqlite, created on first use. A PostgreSQL URL (postgresql+psycopg://...) works
unchanged when the app runs as several replicas. Each row holds what the consent box says, nothing
more: the drawing's strokes as the pad sent them, the drawing scaled down (PNG), its 28x28 as the
models read it, the label, the five models' probabilities, the time and an anonymous random session id.

    store = DrawingStore()
    store.add(image, label=7, probabilities=prediction.probabilities, session="3f2a...")
    store.export_npz("drawings.npz")  # x (N, 28, 28) uint8 white on black, y, each model's prediction

`python -m digitpad.evaluate --drawings URL` measures the committed models on them.
"""

import datetime
import io
import os
import threading
from pathlib import Path

import numpy as np
import sqlalchemy as sa
from PIL import Image

from digitpad import preprocess
from digitpad.catalog import MODEL_NAMES

DEFAULT_URL = "sqlite:///data/drawings.sqlite"
THUMBNAIL = 128  # px: the longer side of the drawing as kept
SCHEMA_LOCK = 0x64696769  # PostgreSQL advisory lock id ("digi") held while the schema is made
SQLITE_TIMEOUT = 5.0  # s a writer waits for another process' write before giving up

metadata = sa.MetaData()
drawings = sa.Table(
    "drawings",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created", sa.DateTime(timezone=True), nullable=False),
    sa.Column("session", sa.String(64), nullable=False, index=True),
    sa.Column("label", sa.SmallInteger, nullable=False),
    sa.Column("drawing", sa.LargeBinary, nullable=False),  # PNG, at most THUMBNAIL px a side
    sa.Column("mnist", sa.LargeBinary, nullable=False),  # 784 bytes: the 28x28 uint8, white on black
    sa.Column("probabilities", sa.JSON, nullable=False),  # {model key: [10 floats]}
    sa.Column("strokes", sa.JSON, nullable=True),  # the pad's value: {"strokes": [[[x, y], ...]], "width", "height"}
)


class StoreError(RuntimeError):
    """The store cannot be used; the message says why, for the page ("saving is off: ...")."""


class DrawingStore:
    def __init__(self, url=None):
        self.url = url or os.environ.get("DIGITPAD_DB") or DEFAULT_URL
        self._write = threading.Lock()  # one writer at a time in this process (SQLite allows one anyway)
        try:
            self.engine = _engine(self.url)
            _create_schema(self.engine)
        except (sa.exc.SQLAlchemyError, OSError) as error:
            raise StoreError(_reason(error)) from None

    def add(self, image, label, probabilities, session) -> int:
        """Store one labelled drawing; returns its id. `image`: the pad's strokes (kept as they are, and
        drawn for the picture), or anything else `preprocess.to_mnist` takes."""
        label = int(label)
        if not 0 <= label <= 9:
            raise ValueError(f"A label is a digit 0-9, not {label}.")
        if set(probabilities) != set(MODEL_NAMES):
            raise ValueError(f"Probabilities of all five models are needed, got {sorted(probabilities)}.")
        strokes = None
        if isinstance(image, dict) and "strokes" in image:
            checked = preprocess.check_strokes(image)
            strokes = {"strokes": [np.round(points, 1).tolist() for points in checked.strokes],
                       "width": checked.width, "height": checked.height}
            flat = 255 - preprocess.render_strokes(checked)  # black ink on white, as the pad shows it
        else:
            flat = preprocess.flatten(image)
        mnist = (preprocess.to_mnist(flat) * 255).round().astype(np.uint8)
        row = {
            "created": datetime.datetime.now(datetime.timezone.utc),
            "session": str(session)[:64],
            "label": label,
            "drawing": _thumbnail(flat),
            "mnist": mnist.tobytes(),
            "probabilities": {key: [round(float(p), 6) for p in probabilities[key]] for key in MODEL_NAMES},
            "strokes": strokes,
        }
        try:
            with self._write, self.engine.begin() as connection:
                return connection.execute(drawings.insert().values(**row)).inserted_primary_key[0]
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(_reason(error)) from None

    def forget(self, session) -> int:
        """Delete every drawing saved under `session` (a visit's random id); returns how many. One
        transaction: all of them, or none."""
        try:
            with self._write, self.engine.begin() as connection:
                return connection.execute(drawings.delete().where(drawings.c.session == str(session)[:64])).rowcount
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(_reason(error)) from None

    def count(self) -> int:
        return self._read(sa.select(sa.func.count()).select_from(drawings)).scalar_one()

    def rows(self):
        """(x (N, 28, 28) uint8, y (N,), {key: (N, 10) probabilities at the time}), oldest first."""
        result = self._read(sa.select(drawings.c.label, drawings.c.mnist, drawings.c.probabilities)
                            .order_by(drawings.c.id)).all()
        x = np.array([np.frombuffer(r.mnist, np.uint8).reshape(28, 28) for r in result], np.uint8).reshape(-1, 28, 28)
        y = np.array([r.label for r in result], np.int64)
        probabilities = {key: np.array([r.probabilities[key] for r in result], np.float32).reshape(-1, 10)
                         for key in MODEL_NAMES}
        return x, y, probabilities

    def accuracy(self):
        """(count, {key: accuracy of each model's answer at the time}) over every stored drawing."""
        _, y, probabilities = self.rows()
        return len(y), {key: float((p.argmax(axis=1) == y).mean()) if len(y) else float("nan")
                        for key, p in probabilities.items()}

    def export_npz(self, path):
        """Write x (N, 28, 28) uint8 white on black, y, and `predicted_<key>` / `probabilities_<key>`
        of each model at the time; and the drawings' strokes in unipen.npz's layout (points,
        stroke_starts, digit_strokes, labels, writers = the visit's id, contributors = "digitpad"; no
        strokes for a drawing stored without them), so `digitpad.unipen.load(path)` reads them as
        pen-written digits. Returns N."""
        x, y, probabilities = self.rows()
        result = self._read(sa.select(drawings.c.session, drawings.c.strokes).order_by(drawings.c.id)).all()
        strokes = [[np.asarray(s, np.float32).reshape(-1, 2) for s in (r.strokes or {}).get("strokes", []) if s]
                   for r in result]
        flat = [s for digit in strokes for s in digit]
        np.savez_compressed(path, x=x, y=y,
                            **{f"predicted_{key}": p.argmax(axis=1) for key, p in probabilities.items()},
                            **{f"probabilities_{key}": p for key, p in probabilities.items()},
                            points=np.concatenate(flat) if flat else np.zeros((0, 2), np.float32),
                            stroke_starts=np.cumsum([0] + [len(s) for s in flat]).astype(np.int64),
                            digit_strokes=np.cumsum([0] + [len(d) for d in strokes]).astype(np.int64),
                            labels=y, writers=np.array([r.session for r in result], dtype=str).reshape(-1),
                            contributors=np.full(len(y), "digitpad"))
        return len(y)

    def _read(self, query):
        try:
            with self.engine.connect() as connection:
                return connection.execute(query)
        except sa.exc.SQLAlchemyError as error:
            raise StoreError(_reason(error)) from None


def _create_schema(engine):
    """The table, made once however many replicas start at the same moment (on PostgreSQL two racing
    CREATE TABLEs fail on the catalog's unique index, so the replicas take turns under a lock), and a
    store made before strokes were kept given their column (its old rows keep none)."""
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK})
        metadata.create_all(connection)
        if "strokes" not in {column["name"] for column in sa.inspect(connection).get_columns("drawings")}:
            connection.execute(sa.text("ALTER TABLE drawings ADD COLUMN strokes JSON"))


def _engine(url):
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_pre_ping=True)
    database = sa.engine.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_TIMEOUT})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(connection, _):
        # WAL: readers never block the writer, and a commit is one append (about a millisecond).
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def _thumbnail(image):
    """PNG bytes of the drawing, at most THUMBNAIL px a side."""
    picture = image.copy() if isinstance(image, Image.Image) else Image.fromarray(preprocess.as_uint8(image))
    picture.thumbnail((THUMBNAIL, THUMBNAIL), Image.LANCZOS)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def _reason(error):
    """The first line of a database error, without SQLAlchemy's boilerplate."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return text[:200] or type(error).__name__
