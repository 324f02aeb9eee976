"""Adapting the five models to one visitor's handwriting (digitpad.adapt), and the session's side of it."""

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from digitpad import adapt, unipen, views
from digitpad.catalog import MODEL_NAMES
from digitpad.challenge import Session


@pytest.fixture(scope="module")
def writer(pen_digits):
    """One held-out UNIPEN writer of the fixture (46 digits, each digit twice or more; the perceptron reads
    74 % of them, the CNN 80 %), read as the pad reads them: (images, labels)."""
    mine = np.nonzero(pen_digits.writers == "syn/015")[0]
    return unipen.read([pen_digits.strokes[i] for i in mine]), pen_digits.labels[mine]


def rounds(labels, count):
    """Indices of the first `count` drawings of each digit (challenge rounds), and of the rest."""
    chosen = np.concatenate([np.nonzero(labels == d)[0][:count] for d in range(10)])
    return chosen, np.setdiff1d(np.arange(len(labels)), chosen)


def test_the_contract_probabilities_for_every_model_the_same_for_the_same_drawings(predictor, writer):
    images, labels = writer
    train, test = rounds(labels, 2)
    first = adapt.adapt_models(predictor, images[train], labels[train]).predict(images[test])
    again = adapt.adapt_models(predictor, images[train], labels[train]).predict(images[test])
    assert set(first) == set(MODEL_NAMES)
    for key in MODEL_NAMES:
        assert first[key].shape == (len(test), 10) and np.allclose(first[key].sum(axis=1), 1, atol=1e-5)
        assert np.array_equal(first[key], again[key])  # deterministic


def test_an_adaptation_reusing_the_one_before_a_label_is_the_one_made_from_nothing(predictor, writer):
    """The page adapts after each label reusing the previous adaptation's features (the models are not run
    again on drawings they have seen): the result must not depend on it, before and after the 30 drawings
    up to which each is also learned from as variants."""
    images, labels = writer
    order = np.argsort(np.arange(len(labels)) % 7, kind="stable")  # digits mixed, as a challenge asks them
    images, labels = images[order], labels[order]
    adapted = None
    for count in (12, 20, 30, 31, 40):
        adapted = adapt.adapt_models(predictor, images[:count], labels[:count], reuse=adapted)
        anew = adapt.adapt_models(predictor, images[:count], labels[:count])
        assert adapted.changed == anew.changed
        for key in MODEL_NAMES:
            assert np.array_equal(adapted.heads[key].kernel, anew.heads[key].kernel), (count, key)
            assert np.array_equal(adapted.heads[key].bias, anew.heads[key].bias), (count, key)
    assert any(adapted.changed.values())  # something was learned: the comparison is not of two untouched models


def test_two_rounds_help_this_writer_and_hurt_no_model(predictor, writer):
    images, labels = writer
    train, test = rounds(labels, 2)
    adapted = adapt.adapt_models(predictor, images[train], labels[train])
    before = predictor.predict_batch(images[test])
    after = adapted.predict(images[test])
    gains = {key: (after[key].argmax(1) == labels[test]).mean() - (before[key].argmax(1) == labels[test]).mean()
             for key in MODEL_NAMES}
    assert all(gain >= 0 for gain in gains.values()), gains  # never worse on the writer's other digits
    assert gains["perceptron"] >= 0.1 and gains["cnn"] >= 0.1  # the two it misreads most learn their style


def test_one_drawing_a_digit_changes_no_model(predictor, writer):
    """One drawing of a digit shows that drawing, not the writer's style: every model stays as trained."""
    images, labels = writer
    train, test = rounds(labels, 1)
    adapted = adapt.adapt_models(predictor, images[train], labels[train])
    assert not any(adapted.changed.values()) and "twice" in adapted.unchanged_why
    before, after = predictor.predict_batch(images[test]), adapted.predict(images[test])
    for key in MODEL_NAMES:
        assert np.allclose(before[key], after[key], atol=1e-5)


def test_only_digits_drawn_twice_or_more_are_learned_from(predictor, writer):
    """In the middle of a second round, the digits drawn once are not learned from yet (their labels teach
    nothing: relabelled among themselves, the adaptation is the same), and their drawings are kept reading
    as trained: closer to it than by the adaptation made from the digits drawn twice alone."""
    images, labels = writer
    twice = np.concatenate([np.nonzero(labels == d)[0][:2] for d in range(5)])
    once = np.array([np.nonzero(labels == d)[0][0] for d in range(5, 10)])
    drawn = np.concatenate([twice, once])
    mixed = adapt.adapt_models(predictor, images[drawn], labels[drawn])
    relabelled = adapt.adapt_models(predictor, images[drawn], np.concatenate([labels[twice], labels[once][::-1]]))
    alone = adapt.adapt_models(predictor, images[twice], labels[twice])
    assert all(mixed.changed.values())
    as_trained = predictor.predict_batch(images[once])
    kept, pulled = mixed.predict(images[once]), alone.predict(images[once])
    for key in MODEL_NAMES:
        assert np.array_equal(mixed.heads[key].kernel, relabelled.heads[key].kernel), key
        assert np.abs(kept[key] - as_trained[key]).sum() < np.abs(pulled[key] - as_trained[key]).sum(), key


def test_adapted_to_one_writer_the_models_still_read_other_writers_as_trained(predictor, writer, pen_digits):
    """The replayed training digits hold what the visitor's drawings do not show: adapted to one writer, the
    models read the fixture's 27 other writers within a few points of the models as trained (refitted without
    the replayed digits, the perceptron lost 22 points of them)."""
    images, labels = writer
    train, _ = rounds(labels, 2)
    others = np.nonzero(pen_digits.writers != "syn/015")[0]
    theirs = unipen.read([pen_digits.strokes[i] for i in others])
    before = predictor.predict_batch(theirs)
    after = adapt.adapt_models(predictor, images[train], labels[train]).predict(theirs)
    for key in MODEL_NAMES:
        right = [(p.argmax(axis=1) == pen_digits.labels[others]).mean() for p in (before[key], after[key])]
        assert right[1] >= right[0] - 0.03, (key, right)


def test_drawings_labelled_at_random_do_not_teach_the_models(predictor, writer):
    """Do no harm: labels that contradict the drawings (the batch-norm CNN as trained reads fewer than half of
    them as labelled) teach nothing."""
    images, labels = writer
    train, test = rounds(labels, 2)
    wrong = (labels[train] + 1 + np.arange(len(train)) % 8) % 10  # never the drawing's own digit
    adapted = adapt.adapt_models(predictor, images[train], wrong)
    assert not any(adapted.changed.values()) and "do not match" in adapted.unchanged_why


def test_without_its_replayed_digits_the_adaptation_says_what_is_missing(tmp_path):
    class Elsewhere:  # a predictor whose weights came without weights/replay.npz
        weights_dir = tmp_path

    with pytest.raises(adapt.AdaptError, match="replay.npz"):
        adapt.replayed(Elsewhere())


@pytest.mark.parametrize("images, labels, says", [
    (np.zeros((0, 28, 28)), np.zeros(0, int), "Label a drawing first"),
    (np.zeros((4, 28, 28)), np.array([7, 7, 7, 7]), "at least two different digits"),
    (np.zeros((3, 28, 28)), np.array([1, 2]), "one label each"),
    (np.zeros((2, 14, 14)), np.array([1, 2]), "one label each"),
    (np.zeros((2, 28, 28)), np.array([1, 12]), "0 to 9"),
])
def test_bad_input_gets_a_message(predictor, images, labels, says):
    with pytest.raises(adapt.AdaptError, match=says):
        adapt.adapt_models(predictor, images, labels)


def test_ten_thousand_drawings_are_bounded_to_the_latest(predictor, writer):
    images, labels = writer
    many = np.arange(10_000) % len(labels)
    adapted = adapt.adapt_models(predictor, images[many], labels[many])
    assert adapted.count == adapt.MAX_DRAWINGS


def test_a_label_is_scored_by_the_adaptation_made_before_it(predictor, writer):
    images, labels = writer
    session = Session()
    prediction = predictor.predict_many([images[0]])[0]  # read as the page reads it: probabilities, features
    session.label("first", prediction, int(labels[0]))
    assert session.adapted_score()[0] == 0  # no adaptation existed before the first label
    train, _ = rounds(labels, 2)
    session.adapted = adapt.adapt_models(predictor, images[train], labels[train])
    session.adapt_on = False  # switched off, the adaptation made in the background is scored all the same
    later = predictor.predict_many([images[-1]])[0]
    session.label("later", later, int(labels[-1]))
    scored, right, as_trained = session.adapted_score()
    expected = {key: int(p[0].argmax() == labels[-1]) for key, p in session.adapted.apply(later.features).items()}
    assert scored == 1 and right == expected
    assert as_trained == {key: int(p.argmax() == labels[-1]) for key, p in later.probabilities.items()}


def test_an_adaptation_that_changed_no_model_scores_nothing(predictor, writer):
    images, labels = writer
    session = Session()
    train, _ = rounds(labels, 1)  # one drawing of each digit: no model changes (adapt.MIN_DRAWN)
    session.adapted = adapt.adapt_models(predictor, images[train], labels[train])
    assert not any(session.adapted.changed.values())
    session.label("later", predictor.predict_many([images[-1]])[0], int(labels[-1]))
    assert session.adapted_score()[0] == 0


def test_the_adaptation_multiplies_on_one_blas_thread():
    """numpy's and scipy's OpenBLAS, a thread per core each, took the cores from each other in a refit
    (ten times slower here): in a process that loads `digitpad.adapt`, they run one thread each."""
    script = ("import json, digitpad.adapt; from threadpoolctl import threadpool_info; "
              "print(json.dumps([l['num_threads'] for l in threadpool_info() if l['user_api'] == 'blas']))")
    threads = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                                        check=True, cwd=Path(__file__).resolve().parent.parent).stdout)
    assert len(threads) >= 2 and set(threads) == {1}  # numpy's and scipy's


def test_the_round_summary_shows_the_adapted_column_beside_the_one_as_trained(predictor, writer):
    images, labels = writer
    session = Session()
    train, _ = rounds(labels, 2)
    session.adapted = adapt.adapt_models(predictor, images[train], labels[train])
    session.start_round(random.Random(0))
    while session.in_round:
        shown = np.nonzero(labels == session.wanted)[0][-1]  # the writer's last drawing of the digit asked
        session.answer(f"drawing-{session.asked}", predictor.predict_many([images[shown]])[0])
    chart, _ = views.round_summary(session)
    assert "as trained and adapted to you (the 10 drawings" in chart
