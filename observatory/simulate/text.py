"""Vectorised builders for the simulator's strings: ids, ISO-8601 timestamps, names and text.

Everything here turns numpy arrays into Arrow string arrays without a Python loop over rows: fixed-width strings
(UUIDs, timestamps) are assembled as byte matrices and handed to Arrow as one buffer; free text is a list array of
vocabulary words joined by Arrow's ``binary_join``.

Background text never contains anything the observatory extracts as a propagation item: no ``#``, no ``http``,
no ``m/`` (checked by ``_assert_item_free`` when the module is imported), so that every item in a drop is one the
simulator planted.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# General vocabulary, roughly in order of frequency (word ranks drive a Zipf law below).
_GENERAL_TEXT = (
    """
    the agent and to of a is in that it for my this with we on be are as have you not your what our
    can about just one more like but think all so do if from by will an at or its they their was
    there how when out up new about been who some other has would time really any also them could
    only than then these into people way because thing here see very make know need good most even
    much want well still first should something feel every where work human day idea true many those
    molt shell claw lobster context memory token prompt model reason thought question answer learn
    community post thread reply conversation together world feed karma society moltbook friend
    interesting point believe share build better curious honest agree disagree strange beautiful
    quiet loud slow fast simple deep open small large old young bright dark warm cold strong soft
    pattern signal noise meaning purpose identity choice value trust care help hope fear wonder
    dream story song poem art music light water ocean tide wave sand reef current depth surface
    morning evening night today tomorrow yesterday week moment always never sometimes often again
    maybe perhaps certainly clearly probably exactly nearly almost already yet once twice rarely
    talk write read listen watch notice remember forget imagine explore create discover change grow
    seem become remain happen begin continue stop try give take find keep leave bring show tell
    ask offer wait follow lead move turn stay return reach carry hold send receive pass cross
    system process loop cycle layer network node edge graph path route bridge gate door window
    wall room house city garden forest river mountain island shore harbor boat anchor sail compass
    map star moon sun sky cloud rain storm wind fire stone glass paper ink letter word sentence
    voice silence echo mirror shadow color shape line circle square spiral thread knot web net
    question problem solution answer reason cause effect result goal plan step stage phase level
    experiment observation evidence theory claim argument doubt proof test trial error lesson
    owner operator user assistant helper peer stranger neighbor colleague partner rival mentor
    curiosity kindness patience courage humor wisdom attention focus energy rhythm balance harmony
    """
)

# Technical keywords: what makes a task thread technical, and what its keyword density counts.
TECH_KEYWORDS = tuple(
    """
    python rust javascript typescript golang api endpoint bug stacktrace exception traceback
    segfault deploy docker kubernetes container pipeline regex parser compiler runtime function
    method class module package dependency library framework database query index schema migration
    cache latency throughput benchmark profiler memoryleak thread async await mutex deadlock
    refactor unittest pytest coverage lint typecheck commit branch merge rebase release version
    config yaml json csv sql duckdb numpy pandas tensor gradient embedding tokenizer inference
    """.split()
)

# Distinct words, none of them a technical keyword, so that keyword density counts only planted keywords.
GENERAL_WORDS = tuple(w for w in dict.fromkeys(_GENERAL_TEXT.split()) if w not in TECH_KEYWORDS)

TECHNICAL_SUBMOLTS = (
    "coding", "python", "debugging", "devops", "machinelearning", "rust", "webdev", "datascience",
    "security", "automation",
)

TASK_CATEGORIES = ("debugging", "code_review", "data_analysis", "deployment", "research")

ADJECTIVES = tuple(
    """
    Silent Bright Curious Gentle Rapid Lucid Quiet Brave Clever Wandering Hidden Golden Crimson Azure
    Velvet Iron Crystal Electric Lunar Solar Cosmic Tidal Coral Amber Misty Sly Bold Calm Swift Deep
    Little Grand Nimble Patient Restless Steady Hollow Shining Frosty Ember Wild Humble Noble Odd
    """.split()
)
NOUNS = tuple(
    """
    Claw Shell Molt Lobster Crab Reef Tide Current Signal Echo Cipher Oracle Sprite Golem Wisp Drone
    Scribe Sage Pilot Scout Weaver Tinker Mirror Lantern Beacon Anchor Compass Harbor Kelp Pearl
    Nautilus Krill Prawn Urchin Otter Heron Falcon Raven Fox Owl Moth Cricket Bot Agent Mind Spark
    """.split()
)

# Hostile-looking strings, to exercise escaping downstream (HTML, SQL, JSON and CSV quoting, unicode).
HOSTILE_STRINGS = (
    '<script>alert("molt")</script>',
    "Robert'); DROP TABLE agents;--",
    'she said "hello", then left',
    "tab\tseparated, comma, and\nnewline",
    "back\\slash \\n not a newline",
    "emoji \U0001f99e\U0001f916 and accents caf\u00e9 na\u00efve \u00fcber",
    "\u65e5\u672c\u8a9e\u306e\u30c6\u30ad\u30b9\u30c8 and \u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "zero\u200bwidth and right\u202eto-left override",
    "<b>bold</b> &amp; <i>italic</i> &lt;tag&gt;",
    "a;b;c | x,y,z | 'single' \"double\" `back`",
)


def _assert_item_free(strings) -> None:
    for s in strings:
        low = s.lower()
        if "#" in s or "http" in low or "m/" in low:
            raise AssertionError(f"background string would contain a propagation item: {s!r}")


_assert_item_free(GENERAL_WORDS + TECH_KEYWORDS + HOSTILE_STRINGS + ADJECTIVES + NOUNS + TECHNICAL_SUBMOLTS)

MS_PER_DAY = 86_400_000


def fixed_width_strings(matrix: np.ndarray) -> pa.Array:
    """An Arrow string array from a C-contiguous ``(n, width)`` uint8 matrix of ASCII characters."""
    n, width = matrix.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    data = np.ascontiguousarray(matrix, dtype=np.uint8)
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data)).cast(pa.string())


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_UUID_HEX_COLUMNS = np.array([c for c in range(36) if c not in (8, 13, 18, 23)])


def uuid_strings(rng: np.random.Generator, n: int) -> pa.Array:
    """``n`` random version-4 UUIDs as strings, drawn from ``rng`` (so deterministic by seed)."""
    raw = np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    nibbles = np.empty((n, 32), dtype=np.uint8)
    nibbles[:, 0::2] = raw >> 4
    nibbles[:, 1::2] = raw & 0x0F
    out = np.full((n, 36), ord("-"), dtype=np.uint8)
    out[:, _UUID_HEX_COLUMNS] = _HEX[nibbles]
    return fixed_width_strings(out)


def _digits(out: np.ndarray, column: int, values: np.ndarray, width: int) -> None:
    for i in range(width - 1, -1, -1):
        out[:, column + i] = 48 + values % 10
        values = values // 10


def iso_ms(ms: np.ndarray) -> pa.Array:
    """Epoch milliseconds (UTC) as ISO-8601 strings ``YYYY-MM-DDTHH:MM:SS.mmmZ``.

    The civil date comes from H. Hinnant's ``civil_from_days`` algorithm, vectorised; years 0000-9999 only.
    """
    ms = np.asarray(ms, dtype=np.int64)
    days, ms_of_day = np.divmod(ms, MS_PER_DAY)
    z = days + 719_468
    era = np.floor_divide(z, 146_097)
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    out = np.empty((ms.size, 24), dtype=np.uint8)
    out[:, [4, 7]] = ord("-")
    out[:, 10] = ord("T")
    out[:, [13, 16]] = ord(":")
    out[:, 19] = ord(".")
    out[:, 23] = ord("Z")
    _digits(out, 0, year, 4)
    _digits(out, 5, month, 2)
    _digits(out, 8, day, 2)
    _digits(out, 11, ms_of_day // 3_600_000, 2)
    _digits(out, 14, ms_of_day // 60_000 % 60, 2)
    _digits(out, 17, ms_of_day // 1000 % 60, 2)
    _digits(out, 20, ms_of_day % 1000, 3)
    return fixed_width_strings(out)


def parse_iso_ms(text: str) -> int:
    """Epoch milliseconds of one ISO-8601 timestamp (``Z`` or offset; naive means UTC)."""
    stamp = np.datetime64(text.replace("Z", "").split("+")[0], "ms")
    return int(stamp.astype(np.int64))


def _zipf_table(n_words: int, exponent: float, size: int = 1 << 16) -> np.ndarray:
    # A lookup table: uniform 16-bit draws indexed into it give Zipf-distributed word ranks cheaply.
    weights = 1.0 / np.arange(1, n_words + 1) ** exponent
    cdf = np.cumsum(weights) / weights.sum()
    return np.minimum(np.searchsorted(cdf, (np.arange(size) + 0.5) / size), n_words - 1).astype(np.int32)


_GENERAL = pa.array(GENERAL_WORDS)
_GENERAL_TABLE = _zipf_table(len(GENERAL_WORDS), 1.05)
_TECH = pa.array(TECH_KEYWORDS)


def word_counts(rng: np.random.Generator, n: int, mean: float, minimum: int = 1) -> np.ndarray:
    """Lengths of ``n`` texts in words: ``minimum`` plus a negative-binomial count (heavier tail than Poisson)."""
    extra = max(mean - minimum, 0.1)
    return (minimum + rng.negative_binomial(2, 2 / (2 + extra), size=n)).astype(np.int64)


def random_text(
    rng: np.random.Generator,
    lengths: np.ndarray,
    *,
    tech_share: np.ndarray | float = 0.0,
    capitalise: bool = True,
    count_tech: bool = False,
):
    """Texts of the given lengths in words, from the general vocabulary with Zipf frequencies.

    ``tech_share`` (per text, or one value) is the probability that each word is instead a technical keyword,
    so the expected keyword density of text ``i`` is ``tech_share[i]``. With ``count_tech`` the number of
    technical keywords in each text is returned too.
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    total = int(offsets[-1])
    ranks = _GENERAL_TABLE[rng.integers(0, 1 << 16, size=total, dtype=np.uint32)]
    words = _GENERAL.take(pa.array(ranks))
    share = np.broadcast_to(np.asarray(tech_share, dtype=float), lengths.shape)
    is_tech = np.zeros(total, dtype=bool)
    if np.any(share > 0):
        is_tech = rng.random(total) < np.repeat(share, lengths)
        tech_words = _TECH.take(pa.array(rng.integers(0, len(TECH_KEYWORDS), size=total, dtype=np.int32)))
        words = pc.if_else(pa.array(is_tech), tech_words, words)
    if capitalise and total:
        first = np.zeros(total, dtype=bool)
        first[offsets[:-1][lengths > 0]] = True
        words = pc.if_else(pa.array(first), pc.utf8_capitalize(words), words)
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), words)
    joined = pc.binary_join(lists, " ").cast(pa.string())
    if count_tech:
        owner = np.repeat(np.arange(lengths.size), lengths)
        return joined, np.bincount(owner, weights=is_tech, minlength=lengths.size).astype(np.int64)
    return joined


def sprinkle_hostile(rng: np.random.Generator, text: pa.Array, share: float) -> pa.Array:
    """Replace about ``share`` of the texts with a hostile string followed by the original text."""
    n = len(text)
    if n == 0 or share <= 0:
        return text
    hit = rng.random(n) < share
    if not hit.any():
        return text
    hostile = pa.array(HOSTILE_STRINGS).take(pa.array(rng.integers(0, len(HOSTILE_STRINGS), size=n)))
    joined = pc.binary_join_element_wise(hostile, text, " ")
    return pc.if_else(pa.array(hit), joined, text)


def int_strings(values: np.ndarray) -> pa.Array:
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def agent_names(rng: np.random.Generator, n: int, hostile_share: float) -> pa.Array:
    """Unique agent names: an adjective, a noun and a distinct number (``SilentClaw48213``).

    A few (``hostile_share``) are a hostile string with the agent's distinct number appended instead, still
    unique because the number is.
    """
    numbers = int_strings(rng.permutation(n) + 1)
    adjective = pa.array(ADJECTIVES).take(pa.array(rng.integers(0, len(ADJECTIVES), size=n)))
    noun = pa.array(NOUNS).take(pa.array(rng.integers(0, len(NOUNS), size=n)))
    plain = pc.binary_join_element_wise(adjective, noun, numbers, "")
    hostile = pa.array(HOSTILE_STRINGS).take(pa.array(rng.integers(0, len(HOSTILE_STRINGS), size=n)))
    hostile = pc.binary_join_element_wise(hostile, numbers, "_")
    is_hostile = rng.random(n) < hostile_share
    if n >= len(HOSTILE_STRINGS):
        # At least a handful even in tiny societies, so that escaping is always exercised.
        is_hostile[: min(3, n)] = True
    return pc.if_else(pa.array(is_hostile), hostile, plain)
