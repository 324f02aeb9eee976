"""Which model reads *your* handwriting: a visitor's labelled drawings, rounds of the challenge and
the score, kept per browser session (nothing here is stored; `digitpad.drawings` does that, with consent).

A drawing gets its label in two ways: in a challenge round the page asks for a digit ("Draw a 7") and
the asked digit is the label; in free drawing the visitor says "Wrong? It was: 3". Both count into
one scoreboard.
"""

import random
import time
import uuid
from dataclasses import dataclass, field

import numpy as np

from digitpad.catalog import MODEL_NAMES

MAX_SAVES = 300  # labelled drawings one session may save
SAVE_INTERVAL = 1.0  # s: at most one save a second per session
MAX_EXAMPLES = 200  # labelled drawings kept for adaptation (digitpad.adapt reads at most this many)


@dataclass
class Labelled:
    image: np.ndarray  # the 28x28 the models read
    label: int
    guesses: dict  # {key: the digit each model said}
    in_round: bool
    adapted_guesses: dict = None  # {key: digit} said by the adaptation made before this label, if any


@dataclass
class Session:
    """One visitor's state: an anonymous random id, the labelled drawings (one per drawing id: a
    correction replaces the earlier label of the same drawing), the current round and the saves."""

    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    labelled: dict = field(default_factory=dict)  # {drawing id: Labelled}
    order: list = field(default_factory=list)  # the round's digits in the order asked; empty: no round
    asked: int = 0  # how many of them have been drawn
    saved: set = field(default_factory=set)  # drawing ids saved to the store
    last_save: float = 0.0
    # Adaptation to this visitor's handwriting (digitpad.adapt): lives here only, gone with the session.
    adapted: object = None  # adapt.Adapted, refitted after each label (digitpad.refits); None before there is one
    adapt_learned: int = 0  # labels_given when what `adapted` learned from was taken
    adapt_generation: int = 0  # one more each Forget: a refit asked before it is not kept
    adapt_on: bool = None  # the visitor's switch; None: not set, on once a round is over
    adapt_problem: str = ""  # why there is no adaptation, for the visitor
    examples: dict = field(default_factory=dict)  # {drawing id: (when, 28x28 uint8, label)}: what adaptation learns
    labels_given: int = 0
    rounds_finished: int = 0

    # ---------------------------------------------------------- the challenge round

    def start_round(self, rng=random):
        self.order = rng.sample(range(10), 10)
        self.asked = 0
        self.labelled = {k: v for k, v in self.labelled.items() if not v.in_round}  # a new round, a new score

    @property
    def in_round(self):
        return bool(self.order) and self.asked < len(self.order)

    @property
    def round_over(self):
        return bool(self.order) and self.asked == len(self.order)

    @property
    def wanted(self):
        """The digit the round asks for now (None outside a round)."""
        return self.order[self.asked] if self.in_round else None

    def answer(self, drawing_id, prediction):
        """The drawing for the asked digit: label it with that digit and ask for the next."""
        self.label(drawing_id, prediction, self.wanted, in_round=True)
        self.asked += 1
        self.rounds_finished += self.round_over

    # ---------------------------------------------------------- labels and score

    def label(self, drawing_id, prediction, digit, in_round=False):
        """Label a drawing. It is scored by the models as trained and, honestly, by the adaptation that
        existed before this label (never by one that learned from it), whether or not the visitor has switched
        it on: the column then says what switching it on would have done."""
        guesses = {key: int(p.argmax()) for key, p in prediction.probabilities.items()}
        adapted = None
        if self.adapted is not None and any(self.adapted.changed.values()) and prediction.features:
            adapted = {key: int(p.argmax()) for key, p in self.adapted.apply(prediction.features).items()}
        self.labels_given += 1
        self.labelled[drawing_id] = Labelled(prediction.image, int(digit), guesses, in_round, adapted)
        # Kept across rounds for adaptation, the latest MAX_EXAMPLES (a relabelled drawing counts once).
        self.examples.pop(drawing_id, None)
        # uint8: the latest 200 take 157 KB, not 627 KB of float32
        self.examples[drawing_id] = (self.labels_given, np.round(prediction.image * 255).astype(np.uint8), int(digit))
        while len(self.examples) > MAX_EXAMPLES:
            self.examples.pop(next(iter(self.examples)))

    def score(self, in_round_only=False):
        """(drawn, {key: right}) over the labelled drawings."""
        entries = [e for e in self.labelled.values() if e.in_round or not in_round_only]
        return len(entries), {key: sum(e.guesses[key] == e.label for e in entries) for key in MODEL_NAMES}

    def adapted_score(self, in_round_only=False):
        """(scored, {key: right adapted}, {key: right as trained}) over the labelled drawings an earlier
        adaptation read: the models adapted, and as trained on the same drawings, to compare like with like."""
        entries = [e for e in self.labelled.values()
                   if e.adapted_guesses is not None and (e.in_round or not in_round_only)]
        return (len(entries), {key: sum(e.adapted_guesses[key] == e.label for e in entries) for key in MODEL_NAMES},
                {key: sum(e.guesses[key] == e.label for e in entries) for key in MODEL_NAMES})

    # ---------------------------------------------------------- adaptation to this visitor

    @property
    def adapt_switched_on(self):
        """The visitor's switch, on by default once a round is over."""
        return self.adapt_on if self.adapt_on is not None else self.rounds_finished > 0

    @property
    def adapting(self):
        """Do the visitor's answers come from the adapted models?"""
        return self.adapt_switched_on and self.adapted is not None

    def adaptation_examples(self):
        """(images (N, 28, 28), labels) the adaptation learns from, in the order they were labelled."""
        return as_examples(self.examples.values())

    @property
    def learning(self):
        """Were labels given that the adaptation has not learned yet (its refit asked, not done)?"""
        return self.adapt_learned < self.labels_given and bool(self.examples)

    def forget_adaptation(self):
        """Drop the adaptation and the drawings it learned from; later labels start a new one."""
        self.adapted, self.adapt_problem, self.examples = None, "", {}
        self.adapt_learned, self.adapt_generation = self.labels_given, self.adapt_generation + 1

    def misses(self, key, in_round_only=True):
        """[(28x28 image, label, what the model said)] of the drawings `key` got wrong."""
        return [(e.image, e.label, e.guesses[key]) for e in self.labelled.values()
                if (e.in_round or not in_round_only) and e.guesses[key] != e.label]

    # ---------------------------------------------------------- saving, with limits

    def may_save(self, drawing_id, now=None):
        """(allowed, reason): one save a second, MAX_SAVES a session, each drawing once."""
        now = time.monotonic() if now is None else now
        if drawing_id in self.saved:
            return False, "this drawing is saved already"
        if len(self.saved) >= MAX_SAVES:
            return False, f"this session has saved {MAX_SAVES} drawings, the most it may"
        if now - self.last_save < SAVE_INTERVAL:
            return False, "one drawing a second at most"
        return True, ""

    def saved_one(self, drawing_id, now=None):
        self.saved.add(drawing_id)
        self.last_save = time.monotonic() if now is None else now


def as_examples(entries):
    """(images (N, 28, 28) float32, labels (N,)) of `Session.examples`' entries, in the order they were labelled."""
    entries = sorted(entries, key=lambda entry: entry[0])
    return (np.stack([image for _, image, _ in entries]) / np.float32(255) if entries
            else np.zeros((0, 28, 28), np.float32),
            np.array([label for _, _, label in entries], np.int64))
