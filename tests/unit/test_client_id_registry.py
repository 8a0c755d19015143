"""Two ZoomApps with one client_id: the oldest serves, the other waits and is woken when it goes."""

from __future__ import annotations

from zoom_operator.kube.api import ObjectRef
from zoom_operator.worker import ClientIdRegistry

FIRST, SECOND = ObjectRef("ns", "first"), ObjectRef("ns", "second")


def test_the_oldest_claimant_serves_and_the_other_is_woken_when_it_leaves() -> None:
    registry = ClientIdRegistry()
    woken: list[tuple[ObjectRef, str]] = []
    assert registry.claim("client", FIRST, "2026-01-01T00:00:00Z", lambda r: woken.append((FIRST, r))) is None
    assert (
        registry.claim("client", SECOND, "2026-01-02T00:00:00Z", lambda r: woken.append((SECOND, r))) == FIRST
    )
    assert registry.claim("client", FIRST, "2026-01-01T00:00:00Z", lambda r: None) is None  # a later step
    registry.release(FIRST)
    assert woken == [(SECOND, "duplicate")]
    assert registry.claim("client", SECOND, "2026-01-02T00:00:00Z", lambda r: None) is None


def test_changing_client_id_leaves_the_old_one_free() -> None:
    registry = ClientIdRegistry()
    registry.claim("old", FIRST, "1", lambda r: None)
    registry.claim("new", FIRST, "1", lambda r: None)
    assert registry.claim("old", SECOND, "2", lambda r: None) is None


def test_many_apps_each_with_its_own_client_id_never_wait() -> None:
    registry = ClientIdRegistry()
    refs = [ObjectRef("ns", f"app-{i}") for i in range(10_000)]
    for _ in range(2):
        for i, ref in enumerate(refs):
            assert registry.claim(f"client-{i}", ref, "t", lambda r: None) is None
    for ref in refs:
        registry.release(ref)
    assert registry.claim("client-0", SECOND, "t", lambda r: None) is None


def test_a_squatter_that_never_proved_the_client_id_blocks_nobody() -> None:
    registry = ClientIdRegistry()
    squatter, victim = ObjectRef("team-b", "squatter"), ObjectRef("team-a", "victim")
    # the squatter was created first, with the victim's client ID and a wrong secret: it never mints a token
    assert registry.claim("client", squatter, "2026-01-01T00:00:00Z", lambda r: None, proven=False) is None
    assert registry.claim("client", victim, "2026-01-02T00:00:00Z", lambda r: None, proven=False) is None
    # the victim's credentials mint a token: it proves the client ID and serves it
    assert registry.claim("client", victim, "2026-01-02T00:00:00Z", lambda r: None, proven=True) is None
    assert registry.claim("client", squatter, "2026-01-01T00:00:00Z", lambda r: None, proven=False) == victim


def test_of_two_proven_claimants_the_oldest_serves_and_a_newly_proven_winner_wakes_the_other() -> None:
    registry = ClientIdRegistry()
    woken: list[ObjectRef] = []
    assert registry.claim("client", SECOND, "2026-01-02T00:00:00Z", lambda r: woken.append(SECOND)) is None
    assert registry.claim("client", FIRST, "2026-01-01T00:00:00Z", lambda r: woken.append(FIRST)) is None
    assert woken == [SECOND]
    assert registry.claim("client", SECOND, "2026-01-02T00:00:00Z", lambda r: None) == FIRST
