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


@dataclass
class Labelled:
    image: np.ndarray  # the 28x28 the models read
    label: int
    guesses: dict  # {key: the digit each model said}
    in_round: bool


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

    # ---------------------------------------------------------- labels and score

    def label(self, drawing_id, prediction, digit, in_round=False):
        guesses = {key: int(p.argmax()) for key, p in prediction.probabilities.items()}
        self.labelled[drawing_id] = Labelled(prediction.image, int(digit), guesses, in_round)

    def score(self, in_round_only=False):
        """(drawn, {key: right}) over the labelled drawings."""
        entries = [e for e in self.labelled.values() if e.in_round or not in_round_only]
        return len(entries), {key: sum(e.guesses[key] == e.label for e in entries) for key in MODEL_NAMES}

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
