"""Text from the traced application made safe to show on a terminal or to a model.

Names, messages and reports carry text that the traced application chose: an atom, a
registered name, a binary. ``visible`` shows every control character in it as an escape, so
such text cannot move the cursor, recolour or clear a terminal, or reorder what is shown
(bidirectional overrides). ``inspect`` spells terms; this module guards whole lines of output.
"""

from __future__ import annotations

import re

__all__ = ["visible"]

# Characters that can drive a terminal or reorder text: C0 controls (tab excepted), DEL, C1
# controls (U+009B is a one-character CSI) and the bidirectional overrides/isolates.
_INVISIBLE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """``text`` with every control character shown as an escape (``\x1b``, ``\u202e``), so a
    name chosen by the traced application cannot move the cursor, recolour or clear a
    terminal, or reorder what is shown. Printable text is unchanged."""
    if not isinstance(text, str):
        text = str(text)
    if not _INVISIBLE.search(text):
        return text
    return _INVISIBLE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100
                          else f"\\u{ord(m.group()):04x}", text)
