"""Status is written only on change: what every probe renews (its time, Zoom's tracking id, the owner
check time) is not a change; anything a reader acts on is."""

from __future__ import annotations

from typing import Any

from zoom_operator.kube.published import Published, changed
from zoom_operator.kube.published import status_changed as _status_changed


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


def test_what_is_kept_of_a_published_status_answers_what_the_next_step_asks() -> None:
    status = _status(
        conditions=[
            {
                "type": "Ready",
                "status": "True",
                "reason": "TokenVerified",
                "message": "Zoom accepted it at 2026-11-29T10:00:00Z",
                "lastTransitionTime": "2026-11-29T09:00:00Z",
            }
        ],
        token={"secretName": "bot-token", "fingerprint": "3f08"},
    )
    kept = Published.of(status)
    assert kept.has("token")
    assert kept.has("owner")
    assert not kept.has("credentials")
    assert kept.condition_maps() == [
        {
            "type": "Ready",
            "status": "True",
            "reason": "TokenVerified",
            "lastTransitionTime": "2026-11-29T09:00:00Z",
        }
    ]
    assert not changed(kept, Published.of(status))
    assert changed(None, kept)
    # a partial write (the mint record) is folded in as if the whole status had been written
    mints = {"total": 2, "lastHour": 2, "recentAttempts": [], "lastAt": "2026-11-29T10:00:00Z"}
    assert kept.with_fields({"mints": mints}) == Published.of({**status, "mints": mints})
    assert changed(kept, kept.with_fields({"mints": mints}))
    assert "3f08" not in repr(kept), "digests, not the values"
    assert "bot-token" not in repr(kept)
