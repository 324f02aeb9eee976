"""Visitors' adaptations refitted behind their labels (digitpad.refits): one at a time, a visitor's labels
joined while their refit waits, nothing kept that a Forget came before, a label that waits only when the
refits' thread is idle, and then not long."""

import threading
import time

import numpy as np
import pytest

from digitpad import adapt, refits, views
from digitpad.challenge import Session
from digitpad.prediction import Prediction


class SlowFit:
    """Stands in for `adapt.adapt_models`: records what each refit learned from, and holds each refit
    until the test lets it go."""

    def __init__(self):
        self.calls, self.go, self.started = [], threading.Event(), threading.Semaphore(0)

    def __call__(self, predictor, images, labels, reuse=None):
        self.calls.append(list(labels))
        self.started.release()
        assert self.go.wait(10)
        return f"adapted to {len(labels)}"


@pytest.fixture
def slow(monkeypatch):
    fit = SlowFit()
    monkeypatch.setattr(adapt, "adapt_models", fit)
    monkeypatch.setattr(refits, "REST", 0.0)
    return fit


def labelled(session, digits):
    for digit in digits:
        image = np.full((28, 28), digit / 10, np.float32)
        prediction = Prediction(image, probabilities={"cnn": np.eye(10)[digit]})
        session.label(f"drawing-{session.labels_given}", prediction, digit)


def test_labels_given_while_a_refit_waits_join_it(slow):
    queue, busy, visitor = refits.Refits(lambda: None), Session(), Session()
    labelled(busy, [1, 2])
    assert queue.ask(busy)  # the thread was idle: this label may wait a moment for its refit
    assert slow.started.acquire(timeout=10)  # the thread is refitting the first visitor ...
    labelled(visitor, [3, 4])
    assert not queue.ask(visitor)  # ... busy: the second visitor's label is answered at once ...
    labelled(visitor, [5])
    queue.ask(visitor)  # ... and labels again
    assert not queue.wait(visitor, timeout=0.05) and visitor.learning
    assert "Learning from your latest label" in views.adaptation_status(visitor)
    slow.go.set()
    assert queue.wait(busy, timeout=10) and queue.wait(visitor, timeout=10)
    assert slow.calls == [[1, 2], [3, 4, 5]]  # one refit for both of the second visitor's labels
    assert visitor.adapted == "adapted to 3" and not visitor.learning


def test_a_refit_under_way_when_the_visitor_forgets_is_not_kept(slow):
    queue, visitor = refits.Refits(lambda: None), Session()
    labelled(visitor, [1, 2])
    queue.ask(visitor)
    assert slow.started.acquire(timeout=10)
    queue.forget(visitor)
    slow.go.set()
    other = Session()  # refitted after the forgotten one: once it is done, so is that
    labelled(other, [3, 4])
    queue.ask(other)
    assert queue.wait(other, timeout=10) and other.adapted == "adapted to 2"
    assert visitor.adapted is None and not visitor.examples and not visitor.learning


def test_a_label_is_answered_without_waiting_for_a_slow_refit(slow):
    queue, visitor = refits.Refits(lambda: None), Session()
    labelled(visitor, [1, 2])
    queue.ask(visitor)
    started = time.perf_counter()
    assert not queue.wait(visitor)  # the refit is held: the label's wait ends at WAIT_S
    assert time.perf_counter() - started < refits.WAIT_S + 0.5
    slow.go.set()
    assert queue.wait(visitor, timeout=10) and visitor.adapted == "adapted to 2"
