"""User-facing errors.

Every mistake a user can make (a wrong flag, a malformed profile or study file, an
impossible shape, a density outside [0, 1]) raises :class:`SparsimError` with one line
that names the thing, the value received and what is allowed. The CLI turns it into
that line on stderr and exit status 2, never a traceback.

>>> raise SparsimError("--density: got 1.5; allowed: a number in [0, 1]")
Traceback (most recent call last):
...
sparsim.errors.SparsimError: --density: got 1.5; allowed: a number in [0, 1]
"""

from __future__ import annotations

import numbers

__all__ = ["SparsimError", "check_positive_int", "check_density", "check_choice"]


class SparsimError(ValueError):
    """Bad input: the message is one line naming the thing and what is allowed."""


def check_positive_int(name: str, value) -> int:
    """Return ``value`` as an int if it is a whole number >= 1, else raise."""
    whole = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if isinstance(value, bool) or not whole:
        raise SparsimError(f"{name}: got {value!r}; allowed: a whole number >= 1")
    value = int(value)
    if value < 1:
        raise SparsimError(f"{name}: got {value}; allowed: a whole number >= 1")
    return value


def check_density(name: str, value) -> float:
    """Return ``value`` as a float if it lies in [0, 1], else raise."""
    try:
        density = float(value)
    except (TypeError, ValueError):
        raise SparsimError(f"{name}: got {value!r}; allowed: a number in [0, 1]") from None
    if not 0.0 <= density <= 1.0:  # also rejects NaN
        raise SparsimError(f"{name}: got {value}; allowed: a number in [0, 1]")
    return density


def check_choice(name: str, value, allowed) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise naming the choices."""
    if value not in allowed:
        raise SparsimError(f"{name}: got {value!r}; allowed: {', '.join(map(str, allowed))}")
    return value
