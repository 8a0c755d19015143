"""A wrapper that keeps credential values out of reprs, logs, f-strings and exception text."""

from __future__ import annotations

import hashlib
from typing import Final

_MASK: Final = "***"


class Secret:
    """An opaque credential value (client secret or access token).

    `str()`, `repr()` and formatting all print a mask; only `reveal()` gives the value, and only the
    code that puts it on the wire (an Authorization header, the token Secret) calls it.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def fingerprint(self) -> str:
        """A short sha256 prefix: safe to show, enough to tell two values apart."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:12]

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __repr__(self) -> str:
        return f"Secret({_MASK})"

    def __str__(self) -> str:
        return _MASK

    def __format__(self, format_spec: str) -> str:
        return _MASK

    def __reduce__(self) -> tuple[type[Secret], tuple[str]]:
        raise TypeError("Secret values are not picklable")
