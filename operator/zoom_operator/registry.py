"""Which ZoomApp serves each Zoom client ID in this process: one minter per Zoom app (pure, in memory)."""

from __future__ import annotations

from collections.abc import Callable

from zoom_operator.kube.refs import ObjectRef


class ClientIdRegistry:
    """Process-wide: which ZoomApp serves each client_id. One minter per Zoom app.

    A ZoomApp *proves* a client ID by minting a token with credentials that carry it; only a proven
    claim can block another app, so a squatter holding someone else's public client ID and a wrong
    secret never blocks the real app. Among proven claimants the oldest wins. An unproven claimant is
    blocked by a proven one, and may mint (to prove itself) while there is none.

    Every step claims, so both calls are O(claimants of one client_id): a release that scanned every
    client_id took 88% of the operator's CPU at 10,000 apps (bench/RESULTS.md).
    """

    def __init__(self) -> None:
        self._claims: dict[str, dict[ObjectRef, tuple[bool, str, str]]] = {}
        self._claimed: dict[ObjectRef, str] = {}  # ZoomApp -> the client_id it claims
        self._wakers: dict[ObjectRef, Callable[[str], None]] = {}

    def claim(
        self,
        client_id: str,
        ref: ObjectRef,
        created: str,
        wake: Callable[[str], None],
        *,
        proven: bool = True,
    ) -> ObjectRef | None:
        """Register `ref` for `client_id`; return the ZoomApp that serves it when that is not `ref`."""
        if self._claimed.get(ref) != client_id:
            self.release(ref, wake_others=False)
        claims = self._claims.setdefault(client_id, {})
        was_proven = claims.get(ref, (False, "", ""))[0]
        claims[ref] = (proven, created, str(ref))
        self._claimed[ref] = client_id
        self._wakers[ref] = wake
        proven_claims = [r for r, (ok, _, _) in claims.items() if ok]
        if not proven_claims:
            return None
        winner = min(proven_claims, key=lambda r: claims[r][1:])
        if winner == ref and proven and not was_proven:
            for other in claims:  # a newly proven winner now blocks the others: let them say so
                waker = self._wakers.get(other)
                if other != ref and waker:
                    waker("duplicate")
        return None if winner == ref else winner

    def release(self, ref: ObjectRef, *, wake_others: bool = True) -> None:
        client_id = self._claimed.pop(ref, None)
        if client_id is not None:
            claims = self._claims.get(client_id, {})
            if claims.pop(ref, None) is not None and wake_others:
                for other in claims:
                    waker = self._wakers.get(other)
                    if waker:
                        waker("duplicate")
            if not claims:
                self._claims.pop(client_id, None)
        if wake_others:
            self._wakers.pop(ref, None)
