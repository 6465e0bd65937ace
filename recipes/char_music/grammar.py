"""The ABC grammar that generation follows, as tables a compiled sampling loop can read.

A tune is drawn one character at a time; before each draw, :class:`AbcGrammar` says which
characters keep the text a well-formed tune whose every bar fits its meter, and only those
can be drawn. What it allows is a subset of ABC that music21 parses as written:

- a header: ``X:`` and a number; then, in any order, text fields (``T:``, ``C:``, ``R:``,
  ...: letters, digits and :data:`TEXT_PUNCTUATION`), one meter ``M:`` (:data:`METERS`)
  and at most one unit note length ``L:`` (:data:`UNITS`); last the key ``K:`` (a tonic
  ``A``-``G``, maybe ``#`` or ``b``, and one of :data:`MODES`), which needs the meter;
- a body of notes (``^_=`` accidentals, ``A``-``G`` and ``a``-``g``, up to two ``,`` or
  ``'``, a length from :data:`LENGTHS`), rests ``z``, decorations ``~ . T u v``, ties ``-``,
  slurs ``( )`` within a line, triplets ``(3`` of three notes of one length, broken rhythm
  ``>`` ``<``, grace notes ``{...}``, bar lines ``|``, ``||``, ``|]``, ``|:``, ``:|``,
  endings ``|1`` ``:|2``, and ``\\`` or ``!`` before a line break;
- a blank line, which ends the tune, after at least :data:`MIN_BARS` bars (and from
  :data:`MAX_BARS` on, nothing but the end of what is open and the tune's end).

Each bar lasts what the meter says, except the tune's first bar (a pickup), a bar that a
repeat sign opens or closes, and a bar that completes the short bar before it: the bars
that :func:`recipes.char_music.tunes.bars_fit_meter` lets be short. No note is drawn that
would overfill its bar, or leave the triplet or broken pair it begins no room to finish.
A repeat closes at least two bars (music21 reads no bars at all in some tunes whose
repeats hold one). A first ending ``|1`` closes with ``:|`` (and only a first ending's
``:|`` may go on as the second ending ``:|2``), and a repeat that ``|:`` opens closes
with ``:|`` before the next ``|:`` and before the tune ends, and at most
:data:`MAX_IMPLIED` repeats close with no ``|:``, so that music21 can expand every tune's
repeats, as writing MIDI does, in well under a second. A ``!`` line break comes at least 20
characters after the one before (music21 skips a shorter line between two as a
decoration).

How it runs: the grammar is a finite automaton over the characters (its *state*: where in
the tune's syntax the text is, with the pending note, triplet and broken rhythm), plus nine
integers kept beside it (the *registers*: the time since the bar began, the bar's and the
unit note's length, the short bar before, bar flags, the bars written, those since the
last repeat sign, where a first ending stands, and the characters since a ``!``).
Durations are
integers of :data:`TICKS` per whole note. :func:`tables` gives the automaton's
transitions and their effects on the registers as arrays; :mod:`recipes.charlm.generation`
applies them inside the compiled loop (and so in every export). The tables are built from
the model's characters in under a second and need no TensorFlow here.
"""

from __future__ import annotations

import heapq
from collections import deque
from fractions import Fraction
from functools import cache
from typing import NamedTuple

import numpy as np

#: duration integers per whole note: every length below is a whole number of them
TICKS = 1536
#: the meters a tune may have, with the length of their bar
METERS = {
    "C": 1536, "C|": 1536, "2/2": 1536, "4/4": 1536, "2/4": 768, "3/4": 1152,
    "6/8": 1152, "9/8": 1728, "12/8": 2304, "3/8": 576, "3/2": 2304, "6/4": 2304,
    "5/4": 1920,
}  # fmt: skip
#: the unit note lengths ``L:`` may give (without one: 1/16 below a 3/4 bar, else 1/8)
UNITS = {"1/4": 384, "1/8": 192, "1/16": 96}
#: note lengths as multiples of the unit note (``A2``, ``A/``, ``A3/2``, ...)
LENGTHS = {
    "": Fraction(1), "2": Fraction(2), "3": Fraction(3), "4": Fraction(4),
    "6": Fraction(6), "8": Fraction(8), "12": Fraction(12), "16": Fraction(16),
    "/": Fraction(1, 2), "//": Fraction(1, 4), "/2": Fraction(1, 2), "/4": Fraction(1, 4),
    "3/": Fraction(3, 2), "3/2": Fraction(3, 2), "3/4": Fraction(3, 4),
}  # fmt: skip
#: a note's length is counted in 48ths of the unit note: every length, broken or in a
#: triplet, is a whole number of them; outside triplets, a multiple of GRID (the 1/4 unit)
PARTS, GRID = 48, 12
#: bars (with notes) a tune has at least before it may end; and at most: once it has
#: MAX_BARS, no new bar, part or first ending begins unless a repeat or an ending is open
#: (the longest of irish.abc's 804 tunes has 63), so that a tune ends before the length
#: limit cuts it
MIN_BARS, MAX_BARS = 8, 64
#: header fields of free text, and the characters besides letters and digits it may hold
#: (":" as in irish.abc's "Z: id:dc-reel-189"; brackets and bar lines are left out)
TEXT_FIELDS = "TCORZNSBADFGH"
TEXT_PUNCTUATION = " .,'-()!?&/;:\""
DECORATIONS = "~.Tuv"
NOTE_LETTERS = "ABCDEFGabcdefg"
ACCIDENTALS = ("^", "^^", "_", "__", "=")
MODES = (
    "", "m", "maj", "min", "dor", "mix", "phr", "lyd", "loc", "Maj", "Min", "Dor", "Mix",
    " major", " minor", " Major", " Minor", " Dorian", " Mixolydian", " Phrygian",
    " Lydian", " Locrian", " dorian", " mixolydian",
)  # fmt: skip

#: bits of a transition's ``effects``: a bar closes (plain bar line, or a repeat's end),
#: a repeat opens the next bar, the tune ends, the body begins, a bar line is made double
#: (``||``, ``|]``: music21 reads no bars at all in some tunes where one follows a short bar),
#: a first ending begins (``|1``), a second one (``:|2``), a line ends with ``!``, a note
#: (or rest, triplet, slur, grace notes) begins
PLAIN_BAR, REPEAT_BAR, OPENS, ENDS, BODY, DOUBLE, ENDING1, ENDING2, BANG, NOTE = (
    1, 2, 4, 8, 16, 32, 64, 128, 256, 512,
)  # fmt: skip
#: characters a ``!`` needs after the one before: music21 skips what lies between two ``!``
#: less than 20 characters apart (as a decoration, ``!trill!``), a short line of music too
BANG_GAP = 19
#: bits of the ``flags`` register: the tune's first bar; a bar a repeat opened; a repeat
#: opened (``|:``) and not yet closed (``:|``): music21 expands a tune's repeats only where
#: each ``|:`` is closed before the next one and before the tune ends. Above them, from
#: IMPLIED up, the count of the ``:|`` that closed no ``|:`` (music21 repeats from the
#: part's start): at most MAX_IMPLIED, since expanding them takes music21 time that grows
#: exponentially with their number (8 such parts: 7 s, 10: 73 s; 12 paired ones: 0.4 s)
FIRST, OPENED, OPEN, IMPLIED = 1, 2, 4, 8
MAX_IMPLIED = 4
#: the registers, in order: the state, then these nine (``since``: the bars closed since
#: the last repeat sign; ``ending``: :data:`NO_ENDING`, :data:`IN_ENDING` or the two
#: characters of a ``:|`` that may begin the second ending; ``bang``: the characters
#: written since the last ``!``, at most :data:`BANG_GAP`)
REGISTERS = (
    "state", "position", "bar", "unit", "short", "flags", "bars", "since", "ending", "bang",
)  # fmt: skip
#: values of the ``ending`` register: none open; a first ending open (music21 expands the
#: repeats only where it closes with ``:|``: no ``||``, ``|]``, ``|:``, ``|1`` or tune end
#: before that); after the ``:`` and the ``|`` of the ``:|`` that closed it (a ``2`` may
#: follow the ``|``, and only there)
NO_ENDING, IN_ENDING, ENDING_BAR, ENDING_COLON = 0, 1, 2, 3
#: the state of a text the grammar does not hold (a prime it cannot read): all is allowed
FREE = 0


class Step(NamedTuple):
    """One transition: the next state and what it does to the registers."""

    state: tuple
    commit: int = 0  # a note ends: its length in PARTS of the unit note
    effects: int = 0
    bar: int = 0  # ticks of the meter a header line sets
    unit: int = 0  # ticks of the unit length a header line sets


@cache
def _prefixes(words: tuple[str, ...]) -> frozenset[str]:
    """Every beginning of every word (the words included)."""
    return frozenset(w[:i] for w in words for i in range(len(w) + 1))


def _trie_step(words, prefix: str, ch: str) -> str | None:
    """``prefix + ch`` if it begins one of ``words``, else None."""
    grown = prefix + ch
    return grown if grown in _prefixes(tuple(words)) else None


class AbcGrammar:
    """The automaton of the module's ABC subset; :meth:`step` is one transition."""

    # -- the header -----------------------------------------------------------------------
    def step(self, state: tuple, ch: str) -> Step | None:
        """The transition of ``state`` on ``ch``, or None where ``ch`` is not allowed."""
        kind = state[0]
        if kind == "start":  # blank lines before the tune
            return Step(("start",)) if ch == "\n" else Step(("x",)) if ch == "X" else None
        if kind == "x":
            return Step(("xnum", 0)) if ch == ":" else None
        if kind == "xnum":  # the tune's number: up to five digits
            digits = state[1]
            if ch in "0123456789" and digits < 5 and (digits or ch != "0"):
                return Step(("xnum", digits + 1))
            return Step(("line", False, False)) if ch == "\n" and digits else None
        if kind == "line":  # a header line begins (meter seen, unit seen)
            _, meter, unit = state
            if ch in TEXT_FIELDS:
                return Step(("field", ch, meter, unit))
            if (ch == "M" and not meter) or (ch == "L" and not unit) or (ch == "K" and meter):
                return Step(("field", ch, meter, unit))
            return None
        if kind == "field":
            _, letter, meter, unit = state
            if ch != ":":
                return None
            if letter in TEXT_FIELDS:
                return Step(("text", meter, unit))
            return Step(("value", letter, "", False, meter, unit))
        if kind == "text":
            _, meter, unit = state
            if ch == "\n":
                return Step(("line", meter, unit))
            return Step(state) if ch.isalnum() or ch in TEXT_PUNCTUATION else None
        if kind == "value":
            return self._value(state, ch)
        return self._body(state, ch)

    def _value(self, state: tuple, ch: str) -> Step | None:
        """``M:``, ``L:`` or ``K:`` being written: ``typed`` so far (the key's: its tonic,
        then its mode), after at most one space."""
        _, letter, typed, spaced, meter, unit = state
        if ch == " " and not typed and not spaced:
            return Step(("value", letter, typed, True, meter, unit))
        if letter == "K":
            tonic, mode = typed or ("", "")
            if ch == "\n":
                return Step(_rest("line"), effects=BODY) if tonic and mode in MODES else None
            if not tonic:
                grown = (ch, "") if ch in "ABCDEFG" else None
            elif len(tonic) == 1 and not mode and ch in "#b":
                grown = (tonic + ch, "")
            else:
                mode = _trie_step(MODES, mode, ch)
                grown = None if mode is None else (tonic, mode)
            return None if grown is None else Step(("value", "K", grown, True, True, None))
        words = METERS if letter == "M" else UNITS
        if ch == "\n":
            if typed not in words:
                return None
            if letter == "M":
                return Step(("line", True, unit), bar=METERS[typed])
            return Step(("line", meter, True), unit=UNITS[typed])
        grown = _trie_step(words, typed, ch)
        return None if grown is None else Step(("value", letter, grown, True, meter, unit))

    # -- the body -------------------------------------------------------------------------
    def _body(self, state: tuple, ch: str) -> Step | None:
        """States ``(kind, detail, broken, triplet, slur)``: ``broken`` the factor of the
        next note's length (a broken rhythm's second note), ``triplet`` ``(notes left,
        their length or None)`` or None, ``slur`` whether one is open."""
        kind, detail, broken, triplet, slur = state
        if kind == "note":  # a note (or rest) being written: detail (length, octave marks)
            length, marks = detail
            if marks is not None and not length and _more_marks(marks, ch):
                return Step((kind, (length, marks + ch), broken, triplet, slur))
            grown = _trie_step(LENGTHS, length, ch)
            fixed = None if triplet is None else triplet[1]  # a triplet's notes: one length
            if grown is not None and (fixed is None or fixed.startswith(grown)):
                return Step((kind, (grown, marks), broken, triplet, slur))
            return self._after_note(state, ch)
        if kind == "accidental":
            grown = _trie_step(ACCIDENTALS, detail, ch)
            if grown is not None:
                return Step((kind, grown, broken, triplet, slur))
            if ch in NOTE_LETTERS:
                return Step(("note", ("", ""), broken, triplet, slur))
            return None
        if kind == "decoration":
            return self._note_start(state, ch, decorated=True)
        if kind == "grace":  # inside {...}: detail the notes written, "" or "a" (after one)
            return self._grace(state, ch)
        if kind == "paren":  # "(": a triplet "(3" or a slur's start
            if ch == "3":
                return Step(("rest", "triplet", broken, (3, None), slur))
            step = self._note_start(state, ch)
            if step is None:
                return None
            return step._replace(state=step.state[:4] + (True,))
        if kind == "colon":  # ":" of ":|"
            return Step(("bar", ":|", broken, triplet, slur)) if ch == "|" else None
        if kind == "bar":  # a bar line just written: detail which
            if detail == "|" and ch in "|]":  # only after a whole bar (see DOUBLE)
                return Step(("bar", "done", broken, triplet, slur), effects=DOUBLE)
            if detail == "|" and ch == ":":  # (not ":|:": music21 opens no repeat with it)
                return Step(("bar", "done", broken, triplet, slur), effects=OPENS)
            if (detail, ch) == ("|", "1"):  # a first ending, closed by ":|2" or ":|"
                return Step(("rest", "ending", broken, triplet, slur), effects=ENDING1)
            if (detail, ch) == (":|", "2"):  # (music21 expands no "2" without a "1")
                return Step(("rest", "ending", broken, triplet, slur), effects=ENDING2)
            if ch == "!":
                return Step(("rest", "!", broken, triplet, slur), effects=BANG)
            return self._rest(_rest("bar", slur), ch)
        if kind == "rest":
            if detail == "!" or detail == "\\":
                return Step(_rest("line", slur)) if ch == "\n" and not slur else None
            if detail == "triplet":  # a note must follow
                return self._note_start(state, ch)
            if detail == "broken":  # a note, undecorated (music21 reads "A<.B" as "A .B")
                return self._note_start(state, ch, decorated=True)
            if detail == "grace":
                return self._note_start(state, ch, decorated=True)
            return self._rest(state, ch)
        raise ValueError(f"unknown state {state!r}")

    def _rest(self, state: tuple, ch: str) -> Step | None:
        """Between notes: ``detail`` "line" (a line begins), "bar" (after a bar line),
        "space", "ending", "note" (right after a note or its tie), "tie"."""
        kind, detail, broken, triplet, slur = state
        assert broken == 1 and triplet is None
        if ch == "\n":
            if detail == "line":
                return Step(("end", None, 1, None, False), effects=ENDS)
            return None if slur else Step(_rest("line"))
        if ch == " " and detail != "line":  # (a line of spaces may end a tune)
            return Step(_rest("space", slur))
        if ch == "|":
            return Step(("bar", "|", 1, None, slur), effects=PLAIN_BAR)
        if ch == ":":
            return Step(("colon", None, 1, None, slur), effects=REPEAT_BAR)
        if ch == "\\" and detail not in ("line",):
            return Step(("rest", "\\", 1, None, slur))
        if ch == "-" and detail == "note":
            return Step(_rest("tie", slur))
        if ch == ")" and slur and detail in ("note", "tie"):
            return Step(_rest("space", False))
        if ch == "(" and not slur:
            return Step(("paren", None, 1, None, slur), effects=NOTE)
        if ch == "{":
            return Step(("grace", "", 1, None, slur), effects=NOTE)
        step = self._note_start(state, ch)
        return None if step is None else step._replace(effects=step.effects | NOTE)

    def _note_start(self, state: tuple, ch: str, decorated: bool = False) -> Step | None:
        """A note, rest, accidental or decoration begins with ``ch`` (or nothing)."""
        _, _, broken, triplet, slur = state
        if ch in NOTE_LETTERS:
            return Step(("note", ("", ""), broken, triplet, slur))
        if ch == "z" and not decorated:
            return Step(("note", ("", None), broken, triplet, slur))
        if ch in "^_=":
            return Step(("accidental", ch, broken, triplet, slur))
        if ch in DECORATIONS and not decorated:
            return Step(("decoration", None, broken, triplet, slur))
        return None

    def _grace(self, state: tuple, ch: str) -> Step | None:
        """Grace notes (no length of their own): ``detail`` "" (none yet), "accidental"
        (a letter must follow), "note" (one written: more, or ``}``)."""
        _, written, broken, triplet, slur = state
        if ch == "}" and written == "note":
            return Step(("rest", "grace", broken, triplet, slur))
        if ch in NOTE_LETTERS:
            return Step(("grace", "note", broken, triplet, slur))
        if ch in "^_=" and written != "accidental":
            return Step(("grace", "accidental", broken, triplet, slur))
        return None

    def _after_note(self, state: tuple, ch: str) -> Step | None:
        """``ch`` ends the note being written: its length is committed, then ``ch`` is read
        as it would be right after the note."""
        _, (length, _), broken, triplet, slur = state
        if length not in LENGTHS:
            return None
        value = LENGTHS[length] * broken
        if triplet is not None:
            left, fixed = triplet
            if fixed is not None and fixed != length:
                return None
            value *= Fraction(2, 3)
            triplet = None if left == 1 else (left - 1, length)
        if ch in "><":
            if broken != 1 or triplet is not None:
                return None
            value *= Fraction(3, 2) if ch == ">" else Fraction(1, 2)
            nxt = Fraction(1, 2) if ch == ">" else Fraction(3, 2)
            return _committed(value, ("rest", "broken", nxt, None, slur), 0, inside=False)
        inside = state[3] is not None  # a triplet's note (its three make a whole GRID)
        if triplet is not None:  # the triplet's next note follows at once
            step = self._note_start(("rest", "triplet", 1, triplet, slur), ch)
        else:
            step = self._rest(_rest("note", slur), ch)
        return None if step is None else _committed(value, step.state, step.effects, inside)


def _rest(detail: str, slur: bool = False) -> tuple:
    return ("rest", detail, 1, None, slur)


def _more_marks(marks: str, ch: str) -> bool:
    """Whether octave mark ``ch`` may follow ``marks`` (at most two, all of one kind)."""
    return ch in ",'" and len(marks) < 2 and (not marks or marks[0] == ch)


def _committed(value: Fraction, state: tuple, effects: int, inside: bool) -> Step | None:
    """The step that commits a note of ``value`` units: None unless it is a whole number of
    PARTS (and, outside a triplet, a multiple of GRID, so that a bar can always be filled)."""
    parts = value * PARTS
    if parts.denominator != 1 or (not inside and parts % GRID):
        return None
    return Step(state, commit=int(parts), effects=effects)


class Tables(NamedTuple):
    """The grammar over one vocabulary, as arrays (``S`` states, ``V`` ids: 0 for
    characters outside the vocabulary, then the characters).

    - ``next_state`` ``[S, V]`` int32: -1 where the character is not allowed;
    - ``commit`` ``[S, V]`` int32: the length of the note the character ends, in
      :data:`PARTS` of the unit note (0: none);
    - ``effects`` ``[S, V]`` int32: bits ``PLAIN_BAR``, ``REPEAT_BAR``, ``OPENS``, ``ENDS``,
      ``BODY``, ``DOUBLE``, ``ENDING1``, ``ENDING2``, ``BANG``, ``NOTE``;
    - ``sets`` ``[S, V]`` int32: the meter's bar (``M:``) or the unit's length (``L:``), in
      ticks, with ``UNIT_BIT`` for the latter;
    - ``need`` ``[S]`` int32: the least length (PARTS) the notes the state has begun still
      need before a bar line can close the bar;
    - ``start``: the state at the text's beginning.
    """

    next_state: np.ndarray
    commit: np.ndarray
    effects: np.ndarray
    sets: np.ndarray
    need: np.ndarray
    start: int


#: the bit of ``sets`` that says the value is the unit note's length, not the bar's
UNIT_BIT = 1 << 16


@cache
def tables(chars: tuple[str, ...]) -> Tables | None:
    """The grammar's tables over ``chars`` (the model's characters), or None when the
    vocabulary cannot write a whole tune (then generation is unconstrained)."""
    grammar = AbcGrammar()
    ids = {ch: i + 1 for i, ch in enumerate(chars)}
    start = ("start",)
    index: dict[tuple, int] = {("free",): FREE, start: 1}
    edges: dict[int, list[tuple[int, Step]]] = {}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        out = []
        for ch, column in ids.items():
            step = grammar.step(state, ch)
            if step is None:
                continue
            if step.state not in index:
                index[step.state] = len(index)
                if step.state[0] != "end":
                    queue.append(step.state)
            out.append((column, step))
        edges[index[state]] = out
    ends = {i for s, i in index.items() if s[0] == "end"}
    # keep the states from which the tune can end (no draw may lead where it cannot)
    back: dict[int, set[int]] = {}
    for source, out in edges.items():
        for _, step in out:
            back.setdefault(index[step.state], set()).add(source)
    alive, todo = set(ends), list(ends)
    while todo:
        for source in back.get(todo.pop(), ()):
            if source not in alive:
                alive.add(source)
                todo.append(source)
    if index[start] not in alive:
        return None
    size, width = len(index), len(chars) + 1
    next_state = np.full((size, width), -1, np.int32)
    commit, effects, sets = (np.zeros((size, width), np.int32) for _ in range(3))
    next_state[FREE, 1:] = FREE
    for end in ends:  # a tune ended: the loop stops the row; nothing is constrained
        next_state[end, 1:] = FREE
    for source, out in edges.items():
        if source not in alive:
            continue
        for column, step in out:
            target = index[step.state]
            if target in alive:
                next_state[source, column] = target
                commit[source, column] = step.commit
                effects[source, column] = step.effects
                sets[source, column] = step.bar or (step.unit | UNIT_BIT if step.unit else 0)
    return Tables(next_state, commit, effects, sets, _need(next_state, commit, effects), 1)


def _need(next_state: np.ndarray, commit: np.ndarray, effects: np.ndarray) -> np.ndarray:
    """Per state, the least sum of note lengths on a path to a bar line (the bar line's own
    commit included): Dijkstra over the transitions, backwards from the bar lines."""
    size = len(next_state)
    need = np.full(size, np.iinfo(np.int32).max, np.int64)
    bar = (effects & (PLAIN_BAR | REPEAT_BAR)) != 0
    back: dict[int, list[tuple[int, int]]] = {}
    heap = []
    for s in range(size):
        for c in np.nonzero(next_state[s] >= 0)[0]:
            t = int(next_state[s, c])
            if bar[s, c]:
                cost = int(commit[s, c])
                if cost < need[s]:
                    need[s] = cost
                    heapq.heappush(heap, (cost, s))
            elif t != s:
                back.setdefault(t, []).append((s, int(commit[s, c])))
    while heap:
        cost, t = heapq.heappop(heap)
        if cost > need[t]:
            continue
        for s, weight in back.get(t, ()):
            if cost + weight < need[s]:
                need[s] = cost + weight
                heapq.heappush(heap, (cost + weight, s))
    need[need == np.iinfo(np.int32).max] = 0  # the header, the free and end states
    return need.astype(np.int32)
