"""Status is written only on change: what every probe renews (its time, Zoom's tracking id, the owner
check time) is not a change; anything a reader acts on is."""

from __future__ import annotations

from typing import Any

from zoom_operator.kube.status import status_changed as _status_changed


def _status(**overrides: Any) -> dict[str, Any]:
    status: dict[str, Any] = {
        "observedGeneration": 1,
        "conditions": [{"type": "Ready", "status": "True", "reason": "TokenVerified"}],
        "lastProbe": {
            "at": "2026-11-29T10:00:00Z",
            "httpStatus": 200,
            "message": "accepted",
            "trackingId": "a",
        },
        "owner": {
            "userId": "u-1",
            "email": "o@example.com",
            "status": "active",
            "checkedAt": "2026-11-29T10:00:00Z",
        },
    }
    status.update(overrides)
    return status


def test_a_routine_probe_changes_nothing_worth_writing() -> None:
    later = _status(
        lastProbe={"at": "2026-11-29T10:05:00Z", "httpStatus": 200, "message": "accepted", "trackingId": "b"},
        owner={
            "userId": "u-1",
            "email": "o@example.com",
            "status": "active",
            "checkedAt": "2026-11-29T10:05:00Z",
        },
    )
    assert not _status_changed(_status(), later)


def test_times_quoted_in_condition_messages_are_not_a_change() -> None:
    def ready(at: str, reason: str = "TokenVerified") -> list[dict[str, str]]:
        message = f"Secret ns/app-token holds a token that Zoom accepted at {at}."
        return [{"type": "Ready", "status": "True", "reason": reason, "message": message}]

    earlier = _status(conditions=ready("2026-11-29T10:00:00Z"))
    assert not _status_changed(earlier, _status(conditions=ready("2026-11-29T10:05:00Z")))
    assert _status_changed(earlier, _status(conditions=ready("2026-11-29T10:05:00Z", reason="OwnerProblem")))


def test_a_different_answer_or_owner_is_a_change() -> None:
    rejected = _status(
        lastProbe={"at": "2026-11-29T10:05:00Z", "httpStatus": 401, "message": "Invalid access token."}
    )
    assert _status_changed(_status(), rejected)
    inactive = _status(
        owner={"userId": "u-1", "email": "o@example.com", "status": "inactive", "checkedAt": "x"}
    )
    assert _status_changed(_status(), inactive)
    assert _status_changed(None, _status())
