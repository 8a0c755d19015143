"""The planner's rules as tables: one AppState, one spec, an injected `now`; what is due, and when next.

The worker's tests (test_worker.py) prove the same rules through whole steps with fakes; these pin each
rule alone: the budget, the backoff, Zoom's Retry-After, renew-now, fresh-token verification, the
lease on another process's token request, and when a step is due next.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zoom_operator import planner
from zoom_operator.diagnosis import MintRecord, ProbeRecord
from zoom_operator.schedule import MintBudget
from zoom_operator.secret import Secret
from zoom_operator.spec import ZoomAppSpec, parse_spec
from zoom_operator.state import AppState
from zoom_operator.zoom.outcomes import (
    ApiOk,
    ClientRejected,
    RateLimited,
    TokenIssued,
    Transient,
    Unauthorized,
)

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FP = "credentials-fp"


def s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def spec(**fields: object) -> ZoomAppSpec:
    document = {"credentialsSecretRef": {"name": "bot-zoom"}, "expectedOwner": {"email": "o@example.com"}}
    return parse_spec({**document, **fields}, app_name="bot")


def token(issued: datetime = T0, lifetime: float = 3600) -> TokenIssued:
    return TokenIssued(
        access_token=Secret("t"),
        token_type="bearer",
        issued_at=issued,
        expires_at=issued + s(lifetime),
        scopes=frozenset({"user:read:admin"}),
        api_url=None,
        owner_uid="u",
    )


def state(**fields: object) -> AppState:
    st = AppState(renew_jitter=0.0, budget=MintBudget(6))
    for key, value in fields.items():
        setattr(st, key, value)
    return st


# renewBeforeSeconds defaults to 600: a 1-hour token issued at T0 is renewed at T0 + 3000 s (jitter 0).
@pytest.mark.parametrize(
    ("fields", "now", "force", "reason", "blocker"),
    [
        pytest.param({}, T0, False, "no-token", None, id="no-token-mints-now"),
        pytest.param({"token": token()}, T0 + s(60), False, None, None, id="fresh-token-nothing-due"),
        pytest.param({"token": token()}, T0 + s(3300), False, "renewal", None, id="renewal-due"),
        pytest.param(
            {"token": token(), "verify_at": T0 + s(70)}, T0 + s(70), False, "verification", None, id="verify"
        ),
        pytest.param({"token": token()}, T0 + s(60), True, "requested", None, id="renew-now"),
        pytest.param(
            {"blocked_fingerprint": FP}, T0, False, "no-token", "blocked", id="blocked-after-invalid-client"
        ),
        pytest.param(
            {"zoom_retry_after": T0 + s(30)},
            T0,
            True,
            "requested",
            "retry-after",
            id="retry-after-holds-renew-now",
        ),
        pytest.param({"retry_at": T0 + s(30)}, T0, False, "no-token", "backoff", id="backoff"),
        pytest.param({"retry_at": T0 + s(30)}, T0, True, "requested", None, id="renew-now-skips-backoff"),
        pytest.param(
            {"budget": MintBudget.from_timestamps(6, [T0 - s(60)] * 6)},
            T0,
            False,
            "no-token",
            "budget",
            id="budget",
        ),
        pytest.param(
            {"lease_until": T0 + s(30)}, T0, False, "no-token", "lease", id="another-process-in-flight"
        ),
        pytest.param({"lease_until": T0 - s(1)}, T0, False, "no-token", None, id="lease-over"),
    ],
)
def test_decide_mint(
    fields: dict[str, object], now: datetime, force: bool, reason: str | None, blocker: str | None
) -> None:
    decision = planner.decide_mint(state(**fields), spec(), now, credentials_fingerprint=FP, force=force)
    assert (decision.reason, decision.blocker) == (reason, blocker)
    assert decision.now == (reason is not None and blocker is None)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param({}, T0, id="no-token-now"),
        pytest.param({"token": token()}, T0 + s(3000), id="renewal"),
        pytest.param({"token": token(), "retry_at": T0 + s(4000)}, T0 + s(4000), id="backoff-holds-renewal"),
        pytest.param(
            {"token": token(), "mint_requested": True, "retry_at": T0 + s(100)},
            T0,
            id="renew-now-skips-backoff",
        ),
        pytest.param({"zoom_retry_after": T0 + s(45)}, T0 + s(45), id="retry-after"),
        pytest.param({"lease_until": T0 + s(30)}, T0 + s(30), id="lease"),
        pytest.param({"budget": MintBudget.from_timestamps(6, [T0 - s(600)] * 6)}, T0 + s(3000), id="budget"),
    ],
)
def test_next_mint_at(fields: dict[str, object], expected: datetime) -> None:
    assert planner.next_mint_at(state(**fields), spec(), T0) == expected


def test_next_wakeup_is_the_earliest_thing_due_and_never_a_hot_loop() -> None:
    st = state(token=token(), probe_due=T0 + s(120))
    wake = planner.next_wakeup(
        st, spec(), T0, credentials_usable=True, credentials_fingerprint=FP, duplicate=False
    )
    assert wake == T0 + s(120)
    st.probe_due = T0 - s(5)  # overdue: step again, but not in a hot loop
    wake = planner.next_wakeup(
        st, spec(), T0, credentials_usable=True, credentials_fingerprint=FP, duplicate=False
    )
    assert wake == T0 + planner.MIN_STEP_INTERVAL
    assert planner.next_wakeup(
        st, spec(), T0, credentials_usable=False, credentials_fingerprint=None, duplicate=False
    ) == (T0 + planner.CREDENTIALS_POLL)
    assert planner.next_wakeup(
        st, spec(), T0, credentials_usable=True, credentials_fingerprint=FP, duplicate=True
    ) == (T0 + planner.FOREVER)


def test_a_token_is_proven_at_once_and_an_outage_backs_off() -> None:
    st = state()
    planner.on_minted(
        st,
        spec(),
        MintRecord(T0, token()),
        planner.Tuning(),
        credentials_fingerprint=FP,
        client_id_fingerprint="c",
        rng_value=0.5,
    )
    assert st.token is not None
    assert st.token_unsaved
    assert st.probe_due == T0
    assert (st.attempt, st.retry_at) == (0, None)
    for attempt in range(3):
        at = T0 + s(10 * attempt)
        planner.on_minted(
            st,
            spec(),
            MintRecord(at, Transient("timeout", "read")),
            planner.Tuning(),
            credentials_fingerprint=FP,
            client_id_fingerprint="c",
            rng_value=0.99,
        )
        assert st.retry_at is not None
        assert st.retry_at <= at + s(5 * 2**attempt)
    assert st.attempt == 3


def test_rate_limited_token_requests_wait_for_retry_after() -> None:
    st = state()
    limited = RateLimited(retry_after=T0 + s(90), limit_type="QPS", category=None, message="Too many")
    planner.on_minted(
        st,
        spec(),
        MintRecord(T0, limited),
        planner.Tuning(),
        credentials_fingerprint=FP,
        client_id_fingerprint="c",
        rng_value=0.0,
    )
    assert st.zoom_retry_after == T0 + s(90)
    assert st.retry_at == T0 + s(90)


def test_invalid_client_is_confirmed_once_then_blocks_until_the_credentials_change() -> None:
    st = state()
    rejected = ClientRejected("invalid_client", "Invalid client_id or client_secret", 400)
    note = planner.on_minted(
        st,
        spec(),
        MintRecord(T0, rejected),
        planner.Tuning(),
        credentials_fingerprint=FP,
        client_id_fingerprint="c",
        rng_value=0.0,
    )
    assert note is None
    assert st.verify_at == T0 + planner.CONFIRM_INVALID_CLIENT_AFTER
    note = planner.on_minted(
        st,
        spec(),
        MintRecord(T0 + s(20), rejected),
        planner.Tuning(),
        credentials_fingerprint=FP,
        client_id_fingerprint="c",
        rng_value=0.0,
    )
    assert note is not None
    assert st.blocked_fingerprint == FP


def test_a_restored_rejection_streak_counts_without_invented_records() -> None:
    st = state(prior_invalid_client=1)  # status remembered one invalid_client before the restart
    rejected = ClientRejected("invalid_client", "Invalid client_id or client_secret", 400)
    planner.on_minted(
        st,
        spec(),
        MintRecord(T0, rejected),
        planner.Tuning(),
        credentials_fingerprint=FP,
        client_id_fingerprint="c",
        rng_value=0.0,
    )
    assert st.blocked_fingerprint == FP, "one more answer completes the streak of two"


def test_a_401_on_a_fresh_token_asks_for_another_fresh_token_until_the_threshold() -> None:
    st = state(token=token())
    tuning = planner.Tuning()
    rejected = Unauthorized(124, "Invalid access token.")
    planner.on_probed(st, spec(), ProbeRecord(T0 + s(1), T0, rejected), tuning, rng_value=0.0)
    assert st.verify_at == T0 + s(1) + planner.VERIFY_FRESH_AFTER, "a fresh token to verify the rejection"
    later = T0 + s(10)
    planner.on_probed(st, spec(), ProbeRecord(later + s(1), later, rejected), tuning, rng_value=0.0)
    assert st.verify_at == later + s(1) + planner.VERIFY_FRESH_AFTER
    st.verify_at = None
    stale = ProbeRecord(T0 + s(600), T0, rejected)  # a 401 on a 10-minute-old token proves nothing
    old_token_state = state(token=token())
    planner.on_probed(old_token_state, spec(), stale, tuning, rng_value=0.0)
    assert old_token_state.verify_at == T0 + s(600), "verified with a fresh token at once"
    last = T0 + s(20)
    planner.on_probed(st, spec(), ProbeRecord(last + s(1), last, rejected), tuning, rng_value=0.0)
    assert st.verify_at is None, "three fresh tokens rejected: the verdict stands, no more mints"


def test_an_accepted_probe_ends_a_restored_streak() -> None:
    st = state(token=token(), prior_fresh_rejections=2)
    planner.on_probed(st, spec(), ProbeRecord(T0 + s(1), T0, ApiOk(200, {})), planner.Tuning(), rng_value=0.0)
    assert st.prior_fresh_rejections == 0
    assert st.probe_due == T0 + s(1) + s(spec().probe.interval_seconds)


def test_an_outage_on_the_probe_retries_sooner_but_not_at_once() -> None:
    st = state(token=token())
    planner.on_probed(
        st, spec(), ProbeRecord(T0, T0, Transient("connect", "refused")), planner.Tuning(), rng_value=0.0
    )
    assert st.probe_due == T0 + planner.PROBE_RETRY_FLOOR
