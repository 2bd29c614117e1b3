"""VEE's quality and method codes: the letters and names, and their uint8 codes.

quality: ``A`` actual, ``E`` estimated (by VEE or by the source), ``S``
substituted and ``F`` final substitute (source flags, kept), ``N`` missing.
method: ``ACT`` actual as read, ``SRC`` source-estimated as read, ``SPLIT`` part
of a longer interval, ``SUM`` sum of shorter ones, ``LIN``, ``FLAT``, ``LIKEDAY``,
``MISSING`` (``engine.vee.estimate``).

A grid slot's quality and method are small integers (uint8): indices into
``QUALITY_NAMES`` and ``METHOD_NAMES``, 0 where no row supplies the slot. Names only
appear at the edges (``ChannelVee.quality``/``method``, ``VeeResult.to_arrow``,
reports): a 1-minute channel-month's codes take 89 kB instead of 1.4 MB of
'<U1'/'<U7'.
"""
from __future__ import annotations

import numpy as np

#: quality code -> rank; a higher rank wins a duplicate. Unknown codes rank 0.
QUALITY_RANK = {"A": 4, "F": 3, "S": 2, "E": 1}
QUALITY_ESTIMATED = "E"
QUALITY_MISSING = "N"

#: method codes of values taken from the input
METHOD_ACTUAL = "ACT"        # quality A, as read
METHOD_SOURCE = "SRC"        # quality E/S/F from the source, as read
METHOD_SPLIT = "SPLIT"       # part of a longer interval
METHOD_SUM = "SUM"           # sum of shorter intervals
#: method codes of values VEE estimated
METHOD_LIN = "LIN"
METHOD_FLAT = "FLAT"
METHOD_LIKEDAY = "LIKEDAY"
METHOD_MISSING = "MISSING"

QUALITY_NAMES = np.array(["", "A", QUALITY_ESTIMATED, "S", "F", QUALITY_MISSING])
METHOD_NAMES = np.array(["", METHOD_ACTUAL, METHOD_SOURCE, METHOD_SPLIT, METHOD_SUM,
                         METHOD_LIN, METHOD_FLAT, METHOD_LIKEDAY, METHOD_MISSING])
QUALITY_CODE = {str(q): np.uint8(i) for i, q in enumerate(QUALITY_NAMES) if q}
METHOD_CODE = {str(m): np.uint8(i) for i, m in enumerate(METHOD_NAMES) if m}
Q_ACTUAL = QUALITY_CODE["A"]
Q_ESTIMATED = QUALITY_CODE[QUALITY_ESTIMATED]
Q_MISSING = QUALITY_CODE[QUALITY_MISSING]
M_MISSING = METHOD_CODE[METHOD_MISSING]

#: source letter (code point) -> quality code; an unknown letter counts as estimated
_LETTER_CODES = np.full(128, QUALITY_CODE["E"], dtype=np.uint8)
for _letter, _code in QUALITY_CODE.items():
    _LETTER_CODES[ord(_letter)] = _code
#: quality rank (``QUALITY_RANK``; 0 unknown) -> quality code (unknown: estimated)
_RANK_CODES = np.array([QUALITY_CODE[c] for c in ("E", "E", "S", "F", "A")], dtype=np.uint8)


def quality_codes_of(letters: np.ndarray) -> np.ndarray:
    """Source quality letters (``'<U1'``) as quality codes (uint8)."""
    points = np.asarray(letters, dtype="<U1").view(np.uint32)
    return _LETTER_CODES[np.minimum(points, 127)]


def quality_rank(quality: np.ndarray) -> np.ndarray:
    """Vectorised rank of quality letters (see ``QUALITY_RANK``)."""
    q = np.asarray(quality, dtype="<U1")
    rank = np.zeros(q.shape, dtype=np.int8)
    for code, r in QUALITY_RANK.items():
        rank[q == code] = r
    return rank


def quality_codes_of_rank(rank: np.ndarray) -> np.ndarray:
    """Quality codes of ranks (``QUALITY_RANK``); an unknown rank counts as estimated."""
    return _RANK_CODES[np.clip(rank, 0, 4)]


__all__ = ["QUALITY_RANK", "QUALITY_ESTIMATED", "QUALITY_MISSING", "METHOD_ACTUAL",
           "METHOD_SOURCE", "METHOD_SPLIT", "METHOD_SUM", "METHOD_LIN", "METHOD_FLAT",
           "METHOD_LIKEDAY", "METHOD_MISSING", "QUALITY_NAMES", "METHOD_NAMES", "QUALITY_CODE",
           "METHOD_CODE", "Q_ACTUAL", "Q_ESTIMATED", "Q_MISSING", "M_MISSING",
           "quality_codes_of", "quality_rank", "quality_codes_of_rank"]
