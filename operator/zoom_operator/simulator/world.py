"""Everything the running simulator knows, in one object the HTTP layers share: the state, global
config, the (offsettable) clock, issued tokens, rate-limit counters, injected faults and statistics;
plus the few Zoom rules both the token endpoint and the REST API need.

Role model (reference §5, kept deliberately simple):

- a role *allows the API* when its privileges contain `config.s2s_privilege`
  (default `ServerToServerOAuthApp:Edit`, the "Server-to-Server OAuth app" Edit permission);
- a role *allows admin-level scopes* (scopes ending in `:admin`) when its privileges contain
  `config.admin_privilege` (default `Account:Edit`). With `scope_shrink_on_role_loss` on, a token's
  effective scopes are its app's scopes minus admin-level ones when the owner's role lacks that
  privilege, both in the mint response and for every request made with an older token.
"""

from __future__ import annotations

import copy
import time
from collections import Counter
from dataclasses import dataclass, field

from zoom_operator.simulator.faults import FaultBoard
from zoom_operator.simulator.paging import PageTokens
from zoom_operator.simulator.ratelimit import DailyCounter, RateLimiter, SlidingWindow
from zoom_operator.simulator.state import App, Config, State, User
from zoom_operator.simulator.tokens import TokenTable


@dataclass
class Stats:
    requests: int = 0  # every Zoom-facing request (token endpoint and /v2), not the admin API
    token_requests: Counter[str] = field(default_factory=Counter)  # by client id, any outcome
    tokens_issued: Counter[str] = field(default_factory=Counter)  # by client id, 200s only
    endpoints: Counter[str] = field(default_factory=Counter)  # by "METHOD /route/{template}"
    statuses: Counter[str] = field(default_factory=Counter)  # by HTTP status of Zoom-facing answers
    token_in_flight: Counter[str] = field(default_factory=Counter)  # by client id, right now
    token_in_flight_max: Counter[str] = field(default_factory=Counter)  # by client id, the most at once


class World:
    def __init__(self, state: State, config: Config) -> None:
        self._initial = (copy.deepcopy(state), copy.deepcopy(config))
        self.faults = FaultBoard()
        self.reset()

    def reset(self) -> None:
        """Back to the state and config the simulator started with: no tokens (a new signing key, so
        earlier tokens are unknown), no faults, no counters."""
        self.faults.clear()  # releases requests held by a timeout fault
        state, config = self._initial
        self.state = copy.deepcopy(state)
        self.config = copy.deepcopy(config)
        self.tokens = TokenTable()
        self.rate_limits = RateLimiter()
        self.meeting_creates = DailyCounter()
        self.token_requests = SlidingWindow()
        self.page_tokens = PageTokens()
        self.stats = Stats()

    def now(self) -> float:
        """Simulated unix time: the wall clock shifted by `clock_offset_seconds`, so tests can age
        tokens and roll over daily quotas without sleeping."""
        return time.time() + self.config.clock_offset_seconds

    def owner_problem(self, uid: str) -> str | None:
        """Why the user `uid` cannot back an S2S token any more, or None when it can."""
        owner = self.state.users.get(uid)
        if owner is None:
            return "owner deleted"
        if owner.status != "active":
            return f"owner {owner.status}"
        role = self.state.roles.get(owner.role_id)
        if role is None or self.config.s2s_privilege not in role.privileges:
            return f"owner role lacks {self.config.s2s_privilege}"
        return None

    def effective_scopes(self, scopes: tuple[str, ...] | list[str], owner: User | None) -> tuple[str, ...]:
        """`scopes` as far as the owner's role allows them. With no owner (deleted) the scopes stay as
        they are: the failure then shows as a 401, not as a shrunken scope."""
        if not self.config.scope_shrink_on_role_loss or owner is None:
            return tuple(scopes)
        role = self.state.roles.get(owner.role_id)
        admin_allowed = role is not None and self.config.admin_privilege in role.privileges
        return tuple(scope for scope in scopes if admin_allowed or not scope.endswith(":admin"))

    def token_ttl(self, app: App) -> int:
        return app.token_ttl_seconds or self.config.token_ttl_seconds

    def stats_json(self) -> dict[str, object]:
        now = int(self.now())
        return {
            "requests": self.stats.requests,
            "token_requests": dict(self.stats.token_requests),
            "tokens_issued": dict(self.stats.tokens_issued),
            "live_tokens": {
                client_id: self.tokens.live_count(client_id, now) for client_id in self.state.apps
            },
            "endpoints": dict(self.stats.endpoints),
            "statuses": dict(self.stats.statuses),
            "token_in_flight": {k: v for k, v in self.stats.token_in_flight.items() if v},
            "token_in_flight_max": dict(self.stats.token_in_flight_max),
        }
