"""Reading untrusted mappings (state files, admin API bodies) into typed values with one-line errors.

Every problem raises `Invalid` whose message says where the value sits, what was wrong and what is
expected, so the state loader can print it as is and the admin API can return it as `{"error": ...}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn


class Invalid(ValueError):
    """A value read from a state file or an admin request body has the wrong shape."""


def describe(value: object) -> str:
    """A short rendering of an offending value for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Fields:
    """One mapping being read: each getter consumes its key, `done()` rejects whatever is left over.

    `where` prefixes every message, e.g. `users[2] (u-owner)`; it is empty for request bodies.
    """

    def __init__(self, value: object, where: str, example: str) -> None:
        self._where = where
        if not isinstance(value, Mapping):
            self.fail(f"must be a mapping like {example}, got {describe(value)}")
        self._items: dict[str, Any] = {str(key): item for key, item in value.items()}
        self._known: list[str] = []
        self._given = 0

    def fail(self, message: str) -> NoReturn:
        raise Invalid(f"{self._where}: {message}" if self._where else message)

    def _take(self, key: str, required: bool) -> Any:
        self._known.append(key)
        if key not in self._items:
            if required:
                self.fail(f"missing required field '{key}'")
            return None
        self._given += 1
        return self._items.pop(key)

    def string(self, key: str) -> str:
        return self._string(key, self._take(key, required=True))

    def optional_string(self, key: str) -> str | None:
        value = self._take(key, required=False)
        return None if value is None else self._string(key, value)

    def _string(self, key: str, value: object) -> str:
        if not isinstance(value, str) or not value:
            self.fail(f"'{key}' must be a non-empty string, got {describe(value)}")
        return value

    def choice(self, key: str, options: Iterable[str]) -> str:
        return self._choice(key, self._take(key, required=True), options)

    def optional_choice(self, key: str, options: Iterable[str]) -> str | None:
        value = self._take(key, required=False)
        return None if value is None else self._choice(key, value, options)

    def _choice(self, key: str, value: object, options: Iterable[str]) -> str:
        allowed = list(options)
        if value not in allowed:
            self.fail(f"'{key}' must be one of {', '.join(allowed)}, got {describe(value)}")
        return str(value)

    def string_list(self, key: str) -> list[str]:
        return self._string_list(key, self._take(key, required=True))

    def optional_string_list(self, key: str) -> list[str] | None:
        value = self._take(key, required=False)
        return None if value is None else self._string_list(key, value)

    def _string_list(self, key: str, value: object) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            self.fail(f"'{key}' must be a list of non-empty strings, got {describe(value)}")
        return list(value)

    def optional_int(self, key: str, minimum: int) -> int | None:
        value = self._take(key, required=False)
        if value is None:
            return None
        # bool is an int subclass, but `true` is never a count
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            self.fail(f"'{key}' must be an integer >= {minimum}, got {describe(value)}")
        return value

    def optional_number(self, key: str) -> float | None:
        value = self._take(key, required=False)
        if value is None:
            return None
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.fail(f"'{key}' must be a number, got {describe(value)}")
        return float(value)

    def optional_bool(self, key: str) -> bool | None:
        value = self._take(key, required=False)
        if value is not None and not isinstance(value, bool):
            self.fail(f"'{key}' must be true or false, got {describe(value)}")
        return value

    def present(self, key: str) -> bool:
        """Whether the key was given at all (even as null): PATCH uses null to reset a field."""
        return key in self._items

    def nested(self, key: str) -> object:
        """The value as is, for a nested mapping the caller reads with its own `Fields`."""
        return self._take(key, required=False)

    def done(self) -> None:
        if self._items:
            unknown = ", ".join(sorted(self._items))
            self.fail(f"unknown field(s) {unknown}; expected any of {', '.join(self._known)}")

    def done_with_any(self) -> None:
        """`done()` for PATCH bodies, which must also set at least one known field."""
        self.done()
        if not self._given:
            self.fail(f"set at least one of {', '.join(self._known)}")
