"""Case-insensitive matching made fast: patterns for lower-cased text.

Python's ``re.IGNORECASE`` makes long alternations of words several times slower; bounce
notices are matched against hundreds of phrases, so they are lower-cased once and matched by
patterns whose letters are lower-cased instead.
"""

from __future__ import annotations

import re


def lowered(text: str) -> str:
    """``text`` lower-cased character by character, so that positions in it are positions in
    ``text`` (a character whose lower case is longer, like "İ", is kept as it is)."""
    low = text.lower()
    if len(low) == len(text):
        return low
    return "".join(c.lower() if len(c.lower()) == 1 else c for c in text)


def ci(pattern: str) -> re.Pattern[str]:
    """A case-insensitive pattern meant for :func:`lowered` text: its literal letters are
    lower-cased and it is compiled without ``re.IGNORECASE`` (which makes Python's matcher
    several times slower on the long alternations these notices need)."""
    flags = 0
    inline = re.match(r"\(\?([a-z]+)\)", pattern)
    if inline:
        flags = re.MULTILINE if "m" in inline.group(1) else 0
        pattern = pattern[inline.end() :]
    pattern = re.sub(r"\\.|[A-Z]", lambda m: m.group(0) if len(m.group(0)) == 2 else m.group(0).lower(), pattern)
    return re.compile(pattern, flags)

# Where the copy of the returned message starts in a text-only notice.
