"""User-facing errors.

Every mistake a user can make (a wrong flag, a malformed profile or study file, an
impossible shape, a density outside [0, 1]) raises :class:`SparsimError` with one line
that names the thing, the value received and what is allowed. The CLI turns it into
that line on stderr and exit status 2, never a traceback.

>>> raise SparsimError("--density: got 1.5; allowed: a number in [0, 1]")
Traceback (most recent call last):
...
sparsim.errors.SparsimError: --density: got 1.5; allowed: a number in [0, 1]

A value echoed into a message goes through :func:`shown`: its repr, with control and
bidirectional-override characters escaped and cut to :data:`SHOWN_CHARS` characters, so a
10 MB string in a file gives a short line, and a message is always one printable line.

>>> shown("x" * 1000, limit=20)
"'xxxxxxxxxxxxxxxx… (1002 chars)"
>>> shown("evil\\u202ename")
"'evil\\\\u202ename'"
"""

from __future__ import annotations

import numbers
import re

__all__ = ["SparsimError", "check_positive_int", "check_density", "check_choice", "shown", "clean_text",
           "SHOWN_CHARS", "MESSAGE_CHARS"]

#: at most this many characters of a value are echoed into an error
SHOWN_CHARS = 80
#: a whole message longer than this keeps its head and tail (name ... allowed) only
MESSAGE_CHARS = 600

# C0/C1 controls, DEL, and the Unicode bidi controls and other invisible format characters
# (U+200B-U+200F, U+202A-U+202E, U+2060-U+2069, U+FEFF) that can reorder or hide text.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")


def clean_text(text: str, replace: bool = False, keep: str = "") -> str:
    """``text`` with control and bidi characters escaped as ``\\uXXXX`` (or, with
    ``replace``, shown as U+FFFD), for messages, terminals and reports; characters in
    ``keep`` (say ``"\\n"``) stay as they are."""
    def sub(m):
        c = m.group()
        if c in keep:
            return c
        return "\ufffd" if replace else f"\\u{ord(c):04x}"

    return _UNSAFE.sub(sub, text)


def shown(value, limit: int = SHOWN_CHARS) -> str:
    """A value as an error echoes it: repr, one line, printable, at most ``limit`` chars."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    text = clean_text(text)
    if len(text) > limit:
        text = f"{text[:limit - 3]}… ({len(text)} chars)"
    return text


def _bounded(message: str) -> str:
    message = clean_text(" ".join(str(message).split()))  # newlines and tabs become spaces first
    if len(message) > MESSAGE_CHARS:
        half = MESSAGE_CHARS // 2 - 10
        message = f"{message[:half]} …[{len(message) - 2 * half} chars]… {message[-half:]}"
    return message


class SparsimError(ValueError):
    """Bad input: the message is one line naming the thing and what is allowed.

    The message is made one printable line of bounded length here, whoever built it, so
    no caller can print a megabyte or a terminal escape by echoing a value.
    """

    def __init__(self, message="", *args):
        super().__init__(_bounded(message), *args)


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int if it is a whole number >= 1, else raise."""
    whole = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise SparsimError(f"{name}: got {shown(value)}; allowed: a whole number >= 1")
    value = int(value)
    if value < 1:
        raise SparsimError(f"{name}: got {value}; allowed: a whole number >= 1")
    return value


def check_density(name: str, value) -> float:
    """Return ``value`` as a float if it lies in [0, 1], else raise."""
    try:
        density = float(value)
    except (TypeError, ValueError, OverflowError):
        raise SparsimError(f"{name}: got {shown(value)}; allowed: a number in [0, 1]") from None
    if not 0.0 <= density <= 1.0:  # also rejects NaN
        raise SparsimError(f"{name}: got {shown(value)}; allowed: a number in [0, 1]")
    return density


def check_choice(name: str, value, allowed) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise naming the choices."""
    try:
        ok = value in allowed
    except TypeError:  # an unhashable value (a list from TOML) is not a choice
        ok = False
    if not ok:
        raise SparsimError(f"{name}: got {shown(value)}; allowed: {', '.join(map(str, allowed))}")
    return value
