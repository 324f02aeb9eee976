"""Visitors' adaptations refitted behind their labels, one at a time, on a thread of their own.

Refitting a visitor's adaptation (`digitpad.adapt`) takes 4-45 ms of one core. Done in the label's own
event, a class labelling at once (a challenge's "Done" every few seconds each) queued their labels behind
one another's refits: at 40 visitors on one core a label waited 1.8 s (`benchmarks.capacity --adapted`).
Here a label only asks for a refit, and waits for it a moment (WAIT_S) only when the refits' thread had
nothing else to do: a visitor alone sees the refit in the label's answer, a class gets its answers at
once. The refits run in turn, oldest request first; a visitor has one request at most, and labels given
while it waits join it (the refit learns from them all), so a busy server refits each visitor less
often, never more than once a label. After each refit the thread rests REST times as long as it worked:
the drawings people are making keep most of the core (its refits hold the interpreter's lock for part of
their work, so the page's answers wait while they run).
"""

import collections
import threading
import time

from digitpad import adapt
from digitpad.challenge import as_examples

WAIT_S = 0.1  # a label waits this long at most for its refit (a lone visitor's takes 4-45 ms)
REST = 2.0  # the thread rests this many times as long as each refit took: refits take a third of the core at most


class Refits:
    """The queue of refits; `predictor()` gives the models (loaded in the background)."""

    def __init__(self, predictor):
        self._predictor = predictor
        self._asked = collections.OrderedDict()  # session id -> (session, its examples, labels given, generation)
        self._changed = threading.Condition()
        self._thread, self._busy = None, False  # busy: refitting, or resting after a refit

    def ask(self, session):
        """Refit `session`'s adaptation to its labelled drawings as they are now (called after a label, in
        the label's thread: what it learns from is taken here). Returns whether the refits' thread was idle
        (this refit starts now)."""
        entries = list(session.examples.values())  # the drawings themselves are shared, not copied
        with self._changed:
            idle = not self._busy and not self._asked
            self._asked[session.id] = (session, entries, session.labels_given, session.adapt_generation)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="refits", daemon=True)
                self._thread.start()
            self._changed.notify_all()
        return idle

    def wait(self, session, timeout=WAIT_S):
        """Whether `session`'s adaptation has learned every label given so far, waiting `timeout` at most."""
        with self._changed:
            return self._changed.wait_for(lambda: not session.learning, timeout)

    def forget(self, session):
        """Drop `session`'s adaptation and what it learned from; a refit under way is not kept."""
        with self._changed:
            self._asked.pop(session.id, None)
            session.forget_adaptation()

    def _run(self):
        while True:
            with self._changed:
                self._busy = False
                self._changed.wait_for(lambda: self._asked)
                _, (session, entries, given, generation) = self._asked.popitem(last=False)
                self._busy = True
            started = time.perf_counter()
            try:
                images, labels = as_examples(entries)
                adapted, problem = adapt.adapt_models(self._predictor(), images, labels, reuse=session.adapted), ""
            except adapt.AdaptError as error:
                adapted, problem = None, str(error)
            except Exception as error:  # noqa: BLE001 (the models failed to load: said, and the thread goes on)
                adapted, problem = None, f"Adaptation is off: {error}"
            with self._changed:
                if session.adapt_generation == generation:  # not forgotten meanwhile
                    session.adapted, session.adapt_problem, session.adapt_learned = adapted, problem, given
                self._changed.notify_all()
            time.sleep((time.perf_counter() - started) * REST)

