"""Text segmentation: cut LLM token streams and long texts into TTS-sized chunks.

Lives here: :class:`SentenceSegmenter` (streaming), :func:`split_text` (whole texts) and
:data:`MAX_CHUNK_CHARS`. Pure functions of the text: no I/O, no clock, no asyncio.

Why: the service synthesizes best in chunks of at most 250 characters and our client
segments on punctuation (docs/protocol.md §9.16, §10). Sending a sentence as soon as it is
complete keeps time to first audio low; cutting inside ``3.14`` or ``Dr.`` would make
the voice pause in the wrong place.

Guarantees, for any input and any way of splitting it into pushes:

* the segments, concatenated, are exactly the input (whitespace after a cut stays at
  the end of the segment before it);
* no segment is longer than ``max_chars``;
* a segment is emitted only once no later text could move its end, so streaming
  gives the same segments as :func:`split_text` on the whole text.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from .errors import InvalidOptionError

__all__ = ["MAX_CHUNK_CHARS", "SentenceSegmenter", "TranscriptAligner", "split_text"]

MAX_CHUNK_CHARS = 250
"""Longest chunk our client sends (docs/protocol.md §9.16, model cards: 250-char chunks)."""

# Terminators that need whitespace after them (``3.14``, ``x.y/a?b``) and whose
# next word decides (``p.m. today`` is one sentence).
_LATIN_ENDS = ".!?…"
# Terminators that end a sentence wherever they stand; CJK text puts no space after.
_STRONG_ENDS = "。！？।॥"
# Characters that close a sentence after its terminator: quotes, brackets, markdown.
_CLOSERS = "\"'”’)]}»›」』）】〕*_"

# Where a sentence may end: a terminator (with closers and the spaces after it), or a
# blank line. _CANDIDATE finds where such a match can start, inside the size limit;
# _BOUNDARY then reads the whole match, however far its spaces run.
_CANDIDATE = re.compile(rf"[{re.escape(_LATIN_ENDS + _STRONG_ENDS)}\n]")
_BOUNDARY = re.compile(
    rf"(?P<term>[{re.escape(_LATIN_ENDS + _STRONG_ENDS)}]+)"
    rf"(?P<close>[{re.escape(_CLOSERS)}]*)(?P<ws>\s*)"
    r"|(?P<para>\n[^\S\n]*\n\s*)"
)
# Clause cuts for sentences longer than the limit: ASCII-style marks need a space
# after them (``1,000``, ``https:``), the em dash and full-width marks do not.
_CLAUSE = re.compile(
    rf"(?:[,;:–…]|\.\.\.)[{re.escape(_CLOSERS)}]*(?=\s)"
    rf"|—[{re.escape(_CLOSERS)}]*"
    rf"|[，、；：][{re.escape(_CLOSERS)}]*"
)
_SPACE = re.compile(r"\s+")
_OPEN_LINE = re.compile(r"[^\S\n]*\Z")  # only horizontal space up to the end
_OPENERS = "\"'([{“‘«‹¿¡*_"
_INITIALISM = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")

# A period after these is never a sentence end: titles precede a name, the rest
# precede an example or an alternative.
_NEVER_END = frozenset(
    {"dr", "mr", "mrs", "ms", "mx", "prof", "rev", "st", "sr", "hon", "gen", "col", "capt"}
    | {"lt", "sgt", "mt", "vs", "e.g", "i.e", "cf", "viz", "approx"}
)
# A period after these is not an end when a number follows (``No. 5``, ``pp. 12``).
_NUMBER_PREFIX = frozenset({"no", "nos", "vol", "pp", "ch", "sec", "fig", "art", "op", "ca"})
# These often end a sentence: a period after them ends one only before a capital.
_MAYBE_END = frozenset({"etc", "jr", "inc", "ltd", "co", "corp", "al"})

_NOT = -1  # verdict: this terminator does not end a sentence
_UNKNOWN = -2  # verdict: the text after it has not arrived yet


class _Scan(NamedTuple):
    """Progress on the pending chunk that no later text can change."""

    pos: int  # where the search for the next candidate resumes
    short_cut: int | None  # last sentence end refused for min_chars


class SentenceSegmenter:
    """Turn a stream of text pieces (LLM tokens) into sentence-sized TTS chunks.

    Feed text with :meth:`push`, which returns the chunks whose end is certain; call
    :meth:`flush` at the end of the turn for the rest. A sentence end at the very end
    of the pushed text is held back until the next piece shows what follows (``"3."``
    may continue as ``"14"``), so each chunk costs at most one extra token of latency.
    The segmenter is reusable after :meth:`flush`.

    Args:
        max_chars: Longest chunk returned; longer sentences are cut at the last clause
            mark (``, ; : —``), else the last space, else hard at the limit.
        min_chars: Sentences shorter than this are merged with the next one (trade a
            little latency for fewer tiny requests). ``0`` sends every sentence alone.

    Raises:
        ValueError: ``max_chars`` is below 1, or ``min_chars`` is outside
            ``0..max_chars``.
    """

    __slots__ = ("_buf", "_max", "_min", "_scan")

    def __init__(self, max_chars: int = MAX_CHUNK_CHARS, min_chars: int = 0) -> None:
        if max_chars < 1:
            raise InvalidOptionError("max_chars", max_chars, "an integer >= 1")
        if not 0 <= min_chars <= max_chars:
            raise InvalidOptionError("min_chars", min_chars, f"0 to max_chars ({max_chars})")
        self._max = max_chars
        self._min = min_chars
        self._buf = ""
        # Offsets into _buf, so each push reads only the new text, not the whole chunk.
        self._scan = _Scan(0, None)

    @property
    def pending(self) -> str:
        """Text received but not yet returned in a chunk."""
        return self._buf

    def push(self, text: str) -> list[str]:
        """Add a piece of text; return the chunks that became complete (maybe none)."""
        if not text:
            return []
        self._buf += text
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """End of input: return every remaining chunk and start afresh."""
        return self._drain(final=True)

    def _drain(self, *, final: bool) -> list[str]:
        buf, start, scan, out = self._buf, 0, self._scan, []
        while True:
            cut, scan = _next_cut(buf, start, scan, self._max, self._min, final)
            if cut is None:
                break
            out.append(buf[start:cut])
            start, scan = cut, _Scan(cut, None)
        self._buf = buf[start:]
        short = None if scan.short_cut is None else scan.short_cut - start
        self._scan = _Scan(scan.pos - start, short) if self._buf else _Scan(0, None)
        return out


def split_text(text: str, max_chars: int = MAX_CHUNK_CHARS, *, min_chars: int = 0) -> list[str]:
    """Split a whole text into chunks, exactly as streaming it would.

    Raises:
        ValueError: see :class:`SentenceSegmenter`.
    """
    segmenter = SentenceSegmenter(max_chars, min_chars)
    return segmenter.push(text) + segmenter.flush()


def _next_cut(
    buf: str, start: int, scan: _Scan, max_chars: int, min_chars: int, final: bool
) -> tuple[int | None, _Scan]:
    """Where the chunk starting at ``start`` ends (None: wait for more text), and the scan state.

    Every decision reads at most ``buf[start : start + max_chars + 1]`` plus the text up
    to the next non-space character after a terminator, and a decision once taken is
    never revisited; that is what makes streaming and whole-text splitting agree.
    """
    size = len(buf) - start
    if size <= 0:
        return None, scan
    limit = start + max_chars
    pos, short_cut = scan
    while (found := _CANDIDATE.search(buf, pos, limit)) is not None:
        match = _BOUNDARY.match(buf, found.start())
        if match is None:
            if not final and _OPEN_LINE.match(buf, found.end()):
                # A line break at the end: a blank line may follow. Undecided.
                if size > max_chars:
                    break
                return None, _Scan(found.start(), short_cut)
            pos = found.end()  # a single line break
            continue
        end = _judge(buf, start, match, final)
        if end == _UNKNOWN:
            if size > max_chars:
                break  # wherever this sentence ends, the chunk is too long
            return None, _Scan(found.start(), short_cut)
        pos = match.end()
        if end == _NOT:
            continue
        if end > limit:
            break
        if buf[start:end].isspace():
            continue
        if end - start < min_chars:
            short_cut = end
            continue
        return end, scan
    if size > max_chars:
        short = None if short_cut is None else short_cut - start
        return start + _long_cut(buf[start : limit + 1], max_chars, short), scan
    return (len(buf) if final else None), _Scan(pos, short_cut)


def _judge(buf: str, start: int, match: re.Match[str], final: bool) -> int:
    """Where the sentence ends at this terminator or paragraph break: index, _NOT or _UNKNOWN."""
    end = match.end()
    at_end = end == len(buf)
    if at_end and not final:
        return _UNKNOWN  # more closers, spaces or a decisive next word may follow
    term = match.group("term")
    if term is None or any(ch in _STRONG_ENDS for ch in term):
        return end  # paragraph break, or 。！？। which end a sentence wherever they stand
    ws = match.group("ws")
    if at_end:
        return end
    if not ws:
        return _NOT  # 3.14, a.b@c.d, x.y/a?b=c, Wait...what
    if ws.count("\n") >= 2:
        return end  # a blank line ends the paragraph whatever came before it
    nxt = buf[end]
    if nxt.islower():
        return _NOT  # p.m. today, Wait... what?
    if term == "." and not _period_ends(buf, start, match.start(), nxt):
        return _NOT
    return end


def _period_ends(buf: str, start: int, dot: int, nxt: str) -> bool:
    """Whether a lone period at ``dot`` ends a sentence, judging by the word before it."""
    word_start = dot
    while word_start > start and not buf[word_start - 1].isspace():
        word_start -= 1
    word = buf[word_start:dot].lstrip(_OPENERS)
    lower = word.lower()
    if lower in _NEVER_END:
        return False
    if lower in _NUMBER_PREFIX and nxt.isdigit():
        return False
    if len(word) == 1 and word.isalpha():
        return False  # initials: J. R. R. Tolkien
    if lower in _MAYBE_END or _INITIALISM.fullmatch(word):
        return nxt.isupper()  # etc., a.m., U.S.: an end only before a capital
    if word.isdigit() and len(word) <= 3:
        # An enumeration marker ("1. First") at the start of a line is not a sentence.
        line_start = word_start
        while line_start > start and buf[line_start - 1] in " \t":
            line_start -= 1
        return not (line_start == start or buf[line_start - 1] in "\r\n")
    return True


def _long_cut(window: str, max_chars: int, short_cut: int | None) -> int:
    """Cut inside a chunk that cannot fit: ``window`` holds ``max_chars + 1`` characters.

    Prefers, in order, a short sentence end, a clause mark and a space that leave the
    chunk at least half full; then any of them; then a hard cut at the limit.
    """
    content = len(window) - len(window.lstrip())
    clause = None
    for match in _CLAUSE.finditer(window, 0, max_chars + 1):
        if match.end() <= max_chars and match.start() >= content:
            clause = match.end()
    if clause is not None:
        space = _SPACE.match(window, clause)
        clause = min(space.end(), max_chars) if space else clause
    space_cut = None
    for match in _SPACE.finditer(window, content):
        if match.start() > content and match.start() <= max_chars:
            space_cut = min(match.end(), max_chars)
    candidates = (short_cut, clause, space_cut)
    for cut in candidates:
        if cut is not None and cut >= max_chars // 2:
            return cut
    for cut in candidates:
        if cut is not None:
            return cut
    cut = max_chars
    # Never leave a combining mark (a Devanagari vowel sign, an accent) without its base.
    while cut > 1 and unicodedata.category(window[cut])[0] == "M":
        cut -= 1
    return cut


_NEXT_TOKEN = re.compile(r"\s*\S+")


class TranscriptAligner:
    """Cuts the text sent for one utterance into pieces that end where its words end.

    The server's word events carry the words only (verbatim substrings of the input,
    §5.3); a transcript shown to the user should read exactly as sent, spaces and
    punctuation included. Feed the sent text with :meth:`sent`, then each word event's
    word to :meth:`word`: it returns the sent text from the end of the previous word
    to the end of this one, so the pieces concatenate to exactly what was sent;
    :meth:`rest` returns what no word covered (trailing spaces, an unspoken tail).

    A word that is not found verbatim (only non-word characters may lie between the
    previous word and it) takes the next whitespace-delimited token instead, so one odd
    word never swallows the text of the words after it.
    """

    __slots__ = ("_aligned", "text")

    def __init__(self) -> None:
        self.text = ""
        self._aligned = 0

    def sent(self, text: str) -> None:
        """Record text sent for the utterance, verbatim."""
        self.text += text

    def word(self, word: str) -> str:
        """The sent text up to the end of ``word`` (since the previous word)."""
        start = self._aligned
        found = self.text.find(word, start)
        if word and found >= 0 and not any(c.isalnum() for c in self.text[start:found]):
            end = found + len(word)
        else:
            token = _NEXT_TOKEN.match(self.text, start)
            end = token.end() if token else start
        self._aligned = end
        return self.text[start:end]

    def rest(self) -> str:
        """The sent text no word has covered yet; afterwards everything is covered."""
        piece, self._aligned = self.text[self._aligned :], len(self.text)
        return piece
