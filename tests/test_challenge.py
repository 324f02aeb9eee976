"""A visitor's session: the challenge round, labels and corrections on one scoreboard, save limits."""

import random

import numpy as np

from digitpad import views
from digitpad.catalog import MODEL_NAMES
from digitpad.challenge import MAX_SAVES, Session
from digitpad.inference import Prediction


def said(*digits):
    """A Prediction in which the five models say these digits."""
    return Prediction(np.zeros((28, 28), np.float32), {k: np.eye(10)[d] for k, d in zip(MODEL_NAMES, digits)})


def test_a_round_asks_each_digit_once_and_scores_it():
    session = Session()
    session.start_round(random.Random(4))
    assert sorted(session.order) == list(range(10)) and session.in_round
    for i in range(10):
        asked = session.wanted
        # The perceptron always says 1; the others read every drawing right.
        session.answer(f"drawing-{i}", said(1, asked, asked, asked, asked))
    assert session.round_over and session.wanted is None
    drawn, right = session.score(in_round_only=True)
    assert drawn == 10 and right == {"perceptron": 1, "mlp": 10, "mlp_dropout": 10, "cnn": 10, "cnn_batchnorm": 10}
    assert sorted(label for _, label, _ in session.misses("perceptron")) == [0, 2, 3, 4, 5, 6, 7, 8, 9]
    assert session.misses("cnn") == []
    assert "Round over" in views.prompt(session) and "4 of 10" not in views.prompt(session)


def test_corrections_count_into_the_same_scoreboard_and_the_last_label_wins():
    session = Session()
    session.label("a", said(3, 3, 3, 5, 3), 3)
    session.label("b", said(7, 7, 2, 2, 2), 2)
    session.label("b", said(7, 7, 2, 2, 2), 7)  # relabelled: one drawing, counted once
    drawn, right = session.score()
    assert drawn == 2 and right == {"perceptron": 2, "mlp": 2, "mlp_dropout": 1, "cnn": 0, "cnn_batchnorm": 1}
    assert "2 / 2" in views.scoreboard(session) and "0 / 2" in views.scoreboard(session)


def test_a_new_round_starts_a_new_round_score():
    session = Session()
    session.label("free", said(1, 1, 1, 1, 1), 1)
    session.start_round(random.Random(0))
    session.answer("x", said(0, 0, 0, 0, 0))
    session.start_round(random.Random(1))
    assert session.score(in_round_only=True)[0] == 0 and session.score()[0] == 1  # the free label stays
    assert "1 drawing you labelled." in views.scoreboard(session)
    session.answer("y", said(0, 0, 0, 0, 0))
    # The scoreboard says what it counts: not every label of the visit, the round's and the others.
    assert "This round's 1 labelled drawing and 1 more you labelled." in views.scoreboard(session)


def test_saving_is_limited_per_session():
    session = Session()
    assert session.may_save("a", now=100.0) == (True, "")
    session.saved_one("a", now=100.0)
    assert session.may_save("a", now=200.0)[0] is False  # each drawing once
    assert "a second" in session.may_save("b", now=100.5)[1]
    assert session.may_save("b", now=101.1)[0]
    session.saved = {f"d{i}" for i in range(MAX_SAVES)}
    assert "the most it may" in session.may_save("new", now=1000.0)[1]


def test_sessions_have_their_own_random_ids():
    assert len({Session().id for _ in range(100)}) == 100
