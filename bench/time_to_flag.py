"""Time to flag: from a human action in Zoom to the condition on the ZoomApp; and false flags under faults.

    .venv/bin/python bench/time_to_flag.py --probe-interval 30 --reps 3 --fault-minutes 10   # recorded
    .venv/bin/python bench/time_to_flag.py --probe-interval 30 --reps 1 --fault-minutes 2    # make bench

Part 1, scenarios. One operator, the simulator, an auditor ZoomApp (`zoom-admin`, whose own owner is
never touched) and, for each scenario and repetition, a ZoomApp with its own owner, role and Zoom app,
so all of them run at once without touching each other. After every app is Ready, each scenario is
triggered through the simulator's admin API at a random moment (uniform over the next probe interval,
so the change lands anywhere in the probe cycle), and a WATCH on the ZoomApps timestamps the moment the
expected human-action condition turns True.

- owner role loses the S2S permission (role privileges without `ServerToServerOAuthApp:Edit`)
- owner deactivated (user status `inactive`)
   both show on the next probe: bound = probe.intervalSeconds + 10 s.
- scopes revoked (the app's scopes lose `meeting:write:admin`, a required scope)
- secret rotated in Zoom only (new client secret, old one revoked at once)
- ownership transferred (transfer to another admin, completed by a rotation that keeps the old secret
  usable, so the next token is the new owner's; these ZoomApps name expectedOwner by email and userId,
  since the token names its owner by id; `--transfer-email-only` gives the email alone)
   these three only show in a mint's answer (the `scope` field, `invalid_client`, the token's `uid`);
   the operator mints when the token is due for renewal, so the bound is the time until the next
   scheduled renewal (status.token.renewAt at the moment of the change) + 10 s; a rotated secret also
   waits for the operator's deliberate confirmation of `invalid_client` (one retry 20 s later), so its
   bound is renewal + 20 s + 10 s. To keep renewals due soon, these apps get 120 s tokens renewed 30 s
   early (renewal every ~90 s).

Part 2, false flags. 20 healthy ZoomApps (60 s tokens renewed 15 s early, probe every 5 s, so they
mint and probe constantly) while faults are injected in a cycle for `--fault-minutes`: HTTP 500, 502,
503 and 504, 429, and timeouts (the simulator holds the request past the operator's 10 s read timeout)
on the token endpoint, the API, or both; each fault lasts 15-25 s with 5-10 s of calm between. Every
transition of SecretRotationRequired or OwnerRoleChangeRequired to True is a false flag (target 0).
Ready may honestly turn False (ZoomUnreachable, the token could not be proven); those flips are
counted and reported, not counted as false flags.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    AppView,
    Kube,
    Operator,
    ZoomAppWatch,
    create_namespace,
    credentials_secret,
    load_average,
    log,
    machine_info,
    markdown_table,
    secret_path,
    simulator,
    start_control_plane,
    workdir,
    write_figures,
    write_json,
    zoomapp,
    zoomapp_path,
)

NS = "flags"
FAULT_NS = "faults"
ADMIN_PRIVILEGES = [
    "ServerToServerOAuthApp:Read",
    "ServerToServerOAuthApp:Edit",
    "Account:Edit",
    "User:Read",
    "User:Edit",
    "Role:Read",
    "Meeting:Read",
    "Meeting:Edit",
]
SCOPES = ["user:read:admin", "meeting:write:admin", "role:read:admin"]
REQUIRED = ["user:read:admin", "meeting:write:admin"]

# scenario -> (condition that must turn True, expected reason, surfaces at: "probe" | "mint")
SCENARIOS: dict[str, tuple[str, str, str]] = {
    "role_loses_permission": ("OwnerRoleChangeRequired", "OwnerRoleLacksPermission", "probe"),
    "owner_deactivated": ("OwnerRoleChangeRequired", "OwnerDeactivated", "probe"),
    "scopes_revoked": ("OwnerRoleChangeRequired", "ScopesRevoked", "mint"),
    "secret_rotated": ("SecretRotationRequired", "ClientCredentialsRejected", "mint"),
    "ownership_transferred": ("SecretRotationRequired", "OwnershipTransferPending", "mint"),
}
CONFIRM_INVALID_CLIENT_S = 20  # worker.CONFIRM_INVALID_CLIENT_AFTER
MINT_TTL, MINT_RENEW_BEFORE = 120, 30


def sim_state(reps: int, fault_apps: int) -> dict[str, Any]:
    unlimited = {"per_second": 100_000}
    roles = [{"id": "role-admin", "name": "Admin", "privileges": ADMIN_PRIVILEGES}]
    users = [
        {
            "id": "u-auditor",
            "email": "auditor@example.com",
            "account_id": "acc",
            "role_id": "role-admin",
            "status": "active",
        },
        {
            "id": "u-new-owner",
            "email": "new-owner@example.com",
            "account_id": "acc",
            "role_id": "role-admin",
            "status": "active",
        },
        {
            "id": "u-fault",
            "email": "fault@example.com",
            "account_id": "acc",
            "role_id": "role-admin",
            "status": "active",
        },
    ]
    apps = [
        {
            "client_id": "auditor-client",
            "client_secret": "auditor-secret",
            "account_id": "acc",
            "owner_user_id": "u-auditor",
            "scopes": ["user:read:admin", "role:read:admin"],
            "status": "active",
        }
    ]
    for scenario, (_, _, surfaces) in SCENARIOS.items():
        for rep in range(reps):
            key = _key(scenario, rep)
            roles.append({"id": f"role-{key}", "name": f"Admin {key}", "privileges": ADMIN_PRIVILEGES})
            users.append(
                {
                    "id": f"u-{key}",
                    "email": f"{key}@example.com",
                    "account_id": "acc",
                    "role_id": f"role-{key}",
                    "status": "active",
                }
            )
            app = {
                "client_id": f"client-{key}",
                "client_secret": f"secret-{key}",
                "account_id": "acc",
                "owner_user_id": f"u-{key}",
                "scopes": SCOPES,
                "status": "active",
            }
            if surfaces == "mint":
                app["token_ttl_seconds"] = MINT_TTL
            apps.append(app)
    for i in range(fault_apps):
        apps.append(
            {
                "client_id": f"fault-{i:02d}",
                "client_secret": f"fault-secret-{i:02d}",
                "account_id": "acc",
                "owner_user_id": "u-fault",
                "scopes": SCOPES,
                "status": "active",
                "token_ttl_seconds": 60,
            }
        )
    return {
        "accounts": [
            {
                "id": "acc",
                "plan": "business",
                "rate_limits": {"Light": unlimited, "Medium": unlimited, "Heavy": unlimited},
            }
        ],
        "roles": roles,
        "users": users,
        "apps": apps,
    }


def _key(scenario: str, rep: int) -> str:
    return f"{scenario.replace('_', '-')}-{rep}"


def trigger(sim: Any, scenario: str, key: str) -> None:
    client = f"client-{key}"
    if scenario == "role_loses_permission":
        kept = [p for p in ADMIN_PRIVILEGES if p != "ServerToServerOAuthApp:Edit"]
        sim.admin("PATCH", f"/_sim/roles/role-{key}", {"privileges": kept})
    elif scenario == "owner_deactivated":
        sim.admin("PATCH", f"/_sim/users/u-{key}", {"status": "inactive"})
    elif scenario == "scopes_revoked":
        sim.admin(
            "PATCH", f"/_sim/apps/{client}", {"scopes": [s for s in SCOPES if s != "meeting:write:admin"]}
        )
    elif scenario == "secret_rotated":
        sim.admin("POST", f"/_sim/apps/{client}/rotate", {"revoke_old": "now"})
    elif scenario == "ownership_transferred":
        sim.admin("POST", f"/_sim/apps/{client}/transfer", {"to_user_id": "u-new-owner"})
        sim.admin("POST", f"/_sim/apps/{client}/rotate", {"revoke_old": "never"})
    else:
        raise ValueError(scenario)


def _unix(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def part_scenarios(
    args: argparse.Namespace,
    kube: Kube,
    sim: Any,
    watch: ZoomAppWatch,
    flags: dict[str, list[tuple[float, str, str, str]]],
) -> list[dict[str, Any]]:
    rng = random.Random(args.seed)
    items: list[tuple[str, dict[str, Any]]] = [
        (secret_path(NS), credentials_secret("zoom-admin-creds", "acc", "auditor-client", "auditor-secret")),
        (
            zoomapp_path(NS),
            zoomapp(
                "zoom-admin",
                credentials="zoom-admin-creds",
                base_url=sim.base_url,
                owner_email="auditor@example.com",
                requiredScopes=["user:read:admin"],
            ),
        ),
    ]
    kube.create_many(items)
    _wait_ready(watch, [f"{NS}/zoom-admin"], 60)
    items = []
    for scenario, (_, _, surfaces) in SCENARIOS.items():
        for rep in range(args.reps):
            key = _key(scenario, rep)
            spec: dict[str, Any] = {
                "requiredScopes": REQUIRED,
                "auditorRef": {"name": "zoom-admin"},
                "probe": {"intervalSeconds": args.probe_interval},
            }
            if surfaces == "mint":
                spec.update(renewBeforeSeconds=MINT_RENEW_BEFORE, mintBudgetPerHour=120)
            if scenario == "ownership_transferred" and not args.transfer_email_only:
                # A token names its owner by user id (`uid`); these apps give the user id too. With
                # --transfer-email-only they give the email alone (finding 1 in bench/RESULTS.md).
                spec["expectedOwner"] = {"email": f"{key}@example.com", "userId": f"u-{key}"}
            items.append(
                (secret_path(NS), credentials_secret(f"{key}-zoom", "acc", f"client-{key}", f"secret-{key}"))
            )
            items.append(
                (
                    zoomapp_path(NS),
                    zoomapp(
                        key,
                        credentials=f"{key}-zoom",
                        base_url=sim.base_url,
                        owner_email=f"{key}@example.com",
                        **spec,
                    ),
                )
            )
    kube.create_many(items)
    keys = [f"{NS}/{_key(s, r)}" for s in SCENARIOS for r in range(args.reps)]
    _wait_ready(watch, keys, 120)
    log(f"{len(keys)} scenario apps Ready; triggering each at a random moment within {args.probe_interval} s")
    plan = sorted(
        (rng.uniform(0, args.probe_interval), scenario, rep)
        for scenario in SCENARIOS
        for rep in range(args.reps)
    )
    base = time.monotonic()
    triggered: list[dict[str, Any]] = []
    for offset, scenario, rep in plan:
        delay = base + offset - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        key = _key(scenario, rep)
        view = watch.snapshot().get(f"{NS}/{key}") or AppView()
        renew_at = (view.status.get("token") or {}).get("renewAt")
        wall = time.time()
        trigger(sim, scenario, key)
        at = time.monotonic()
        triggered.append(
            {
                "scenario": scenario,
                "rep": rep,
                "key": key,
                "at": at,
                "renew_in_s": round(_unix(renew_at) - wall, 1) if renew_at else None,
            }
        )
    bound_max = args.probe_interval + 10 + MINT_TTL + CONFIRM_INVALID_CLIENT_S + 30
    deadline = time.monotonic() + bound_max
    results: list[dict[str, Any]] = []
    pending = {t["key"] for t in triggered}
    while pending and time.monotonic() < deadline:
        for t in triggered:
            if t["key"] in pending and _flag_time(
                flags, f"{NS}/{t['key']}", SCENARIOS[t["scenario"]][0], t["at"]
            ):
                pending.discard(t["key"])
        time.sleep(0.5)
    for t in triggered:
        condition, expected_reason, surfaces = SCENARIOS[t["scenario"]]
        hit = _flag_time(flags, f"{NS}/{t['key']}", condition, t["at"])
        if surfaces == "probe":
            bound = args.probe_interval + 10
        else:
            extra = CONFIRM_INVALID_CLIENT_S if t["scenario"] == "secret_rotated" else 0
            bound = max(0.0, t["renew_in_s"] or 0.0) + extra + 10
        results.append(
            {
                "scenario": t["scenario"],
                "rep": t["rep"],
                "surfaces_at": surfaces,
                "condition": condition,
                "reason": hit[1] if hit else None,
                "expected_reason": expected_reason,
                "seconds": round(hit[0] - t["at"], 1) if hit else None,
                "bound_s": round(bound, 1),
                "next_renewal_in_s": t["renew_in_s"],
                "within_bound": bool(hit and hit[0] - t["at"] <= bound),
            }
        )
    return results


def _flag_time(
    flags: dict[str, list[tuple[float, str, str, str]]], key: str, condition: str, after: float
) -> tuple[float, str] | None:
    for at, kind, status, reason in flags.get(key, []):
        if at >= after and kind == condition and status == "True":
            return at, reason
    return None


def _wait_ready(watch: ZoomAppWatch, keys: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        apps = watch.snapshot()
        if all(apps.get(k) and apps[k].conditions.get("Ready", ("",))[0] == "True" for k in keys):
            return
        time.sleep(0.5)
    missing = [
        k
        for k in keys
        if not (watch.snapshot().get(k) and watch.snapshot()[k].conditions.get("Ready", ("",))[0] == "True")
    ]
    raise RuntimeError(f"not Ready within {timeout} s: {missing[:10]}")


FAULTS = [
    ("api 500", [{"target": "api", "kind": "status", "status": 500}]),
    ("token 503", [{"target": "token", "kind": "status", "status": 503}]),
    ("api 429", [{"target": "api", "kind": "status", "status": 429}]),
    ("token 429", [{"target": "token", "kind": "status", "status": 429}]),
    ("api timeout", [{"target": "api", "kind": "timeout"}]),
    ("token timeout", [{"target": "token", "kind": "timeout"}]),
    (
        "both 502",
        [
            {"target": "api", "kind": "status", "status": 502},
            {"target": "token", "kind": "status", "status": 502},
        ],
    ),
    (
        "both 504",
        [
            {"target": "api", "kind": "status", "status": 504},
            {"target": "token", "kind": "status", "status": 504},
        ],
    ),
    ("both timeout", [{"target": "api", "kind": "timeout"}, {"target": "token", "kind": "timeout"}]),
]


def part_faults(
    args: argparse.Namespace,
    kube: Kube,
    sim: Any,
    watch: ZoomAppWatch,
    flags: dict[str, list[tuple[float, str, str, str]]],
) -> dict[str, Any]:
    rng = random.Random(args.seed)
    items: list[tuple[str, dict[str, Any]]] = []
    for i in range(args.fault_apps):
        items.append(
            (
                secret_path(FAULT_NS),
                credentials_secret(f"f{i:02d}-zoom", "acc", f"fault-{i:02d}", f"fault-secret-{i:02d}"),
            )
        )
        items.append(
            (
                zoomapp_path(FAULT_NS),
                zoomapp(
                    f"f{i:02d}",
                    credentials=f"f{i:02d}-zoom",
                    base_url=sim.base_url,
                    owner_email="fault@example.com",
                    requiredScopes=REQUIRED,
                    renewBeforeSeconds=15,
                    probe={"intervalSeconds": 5},
                    mintBudgetPerHour=600,
                ),
            )
        )
    kube.create_many(items)
    keys = [f"{FAULT_NS}/f{i:02d}" for i in range(args.fault_apps)]
    _wait_ready(watch, keys, 120)
    stats0 = sim.stats()
    start = time.monotonic()
    end = start + args.fault_minutes * 60
    log(f"{len(keys)} apps Ready; injecting faults for {args.fault_minutes} min")
    injected: list[str] = []
    while time.monotonic() < end:
        name, faults = FAULTS[len(injected) % len(FAULTS)]
        seconds = min(rng.uniform(15, 25), max(1.0, end - time.monotonic()))
        for fault in faults:
            sim.admin("POST", "/_sim/faults", {**fault, "seconds": round(seconds, 1)})
        injected.append(name)
        time.sleep(seconds)
        sim.admin("DELETE", "/_sim/faults")
        if time.monotonic() < end:
            time.sleep(min(rng.uniform(5, 10), max(0.0, end - time.monotonic())))
    sim.admin("DELETE", "/_sim/faults")
    # Let the last probes land before counting.
    time.sleep(10)
    stats1 = sim.stats()
    false_flags = []
    ready_false = []
    for key in keys:
        for at, kind, status, reason in flags.get(key, []):
            if at < start:
                continue
            if kind in ("SecretRotationRequired", "OwnerRoleChangeRequired") and status == "True":
                false_flags.append(
                    {"app": key, "condition": kind, "reason": reason, "t": round(at - start, 1)}
                )
            if kind == "Ready" and status == "False":
                ready_false.append(reason)
    statuses = {
        k: v - stats0["statuses"].get(k, 0)
        for k, v in stats1["statuses"].items()
        if v - stats0["statuses"].get(k, 0)
    }
    final = watch.snapshot()
    return {
        "minutes": args.fault_minutes,
        "apps": len(keys),
        "faults_injected": len(injected),
        "fault_kinds": sorted(set(injected)),
        "zoom_answers_during_run": statuses,
        "tokens_issued": sum(
            stats1["tokens_issued"].get(f"fault-{i:02d}", 0)
            - stats0["tokens_issued"].get(f"fault-{i:02d}", 0)
            for i in range(args.fault_apps)
        ),
        "false_flags": false_flags,
        "ready_false_transitions": len(ready_false),
        "ready_false_reasons": sorted(set(ready_false)),
        "ready_at_end": sum(
            1 for k in keys if final.get(k) and final[k].conditions.get("Ready", ("",))[0] == "True"
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe-interval", type=int, default=30)
    parser.add_argument("--reps", type=int, default=3, help="repetitions of each scenario (separate apps)")
    parser.add_argument("--fault-minutes", type=float, default=10.0)
    parser.add_argument("--fault-apps", type=int, default=20)
    parser.add_argument(
        "--transfer-email-only",
        action="store_true",
        help="ownership scenario with expectedOwner.email only (finding 1 in bench/RESULTS.md)",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir")
    parser.add_argument("--json")
    args = parser.parse_args()
    root = workdir("time-to-flag", args.workdir)
    log(f"time to flag; logs in {root}")
    machine = machine_info()
    cp = start_control_plane(root)
    kube = Kube(cp)
    sim = simulator(sim_state(args.reps, args.fault_apps)).start()
    flags: dict[str, list[tuple[float, str, str, str]]] = {}
    lock = threading.Lock()
    seen: dict[str, dict[str, tuple[str, str]]] = {}

    def on_change(at: float, key: str, view: AppView) -> None:
        with lock:
            before = seen.get(key, {})
            for kind, (status, reason) in view.conditions.items():
                if before.get(kind) != (status, reason):
                    flags.setdefault(key, []).append((at, kind, status, reason))
            seen[key] = dict(view.conditions)

    operator: Operator | None = None
    watch = ZoomAppWatch(kube, on_change)
    try:
        create_namespace(kube, NS)
        create_namespace(kube, FAULT_NS)
        operator = Operator(
            cp.kubeconfig,
            root / "operator.log",
            namespaces=[NS, FAULT_NS],
            args=["--standalone"],
            allow_endpoints=[sim.base_url],
        )
        operator.start()
        watch.start()
        scenarios = part_scenarios(args, kube, sim, watch, flags)
        for r in scenarios:
            log(f"{r['scenario']}#{r['rep']}: {r['seconds']} s (bound {r['bound_s']} s) -> {r['reason']}")
        faults = part_faults(args, kube, sim, watch, flags) if args.fault_minutes > 0 else None
    finally:
        watch.stop()
        if operator is not None:
            operator.stop()
        sim.stop()
        cp.stop()
        shutil.rmtree(root / "control-plane", ignore_errors=True)
    result = {
        "machine": machine,
        "probe_interval_s": args.probe_interval,
        "scenarios": scenarios,
        "faults": faults,
        "load_after": load_average(),
    }
    write_json(root / "results.json", result)
    write_figures(root / "results.json")
    if args.json:
        write_json(Path(args.json), result)
    print()
    rows = []
    for scenario, (condition, expected, surfaces) in SCENARIOS.items():
        runs = [r for r in scenarios if r["scenario"] == scenario]
        times = [r["seconds"] for r in runs if r["seconds"] is not None]
        rows.append(
            (
                scenario.replace("_", " "),
                f"{condition}={expected}",
                surfaces,
                " / ".join(f"{t:.1f}" for t in times) or "not flagged",
                " / ".join(f"{r['bound_s']:.0f}" for r in runs),
                f"{sum(r['within_bound'] for r in runs)}/{len(runs)}",
                ", ".join(sorted({str(r["reason"]) for r in runs})),
            )
        )
    print(
        markdown_table(
            [
                "scenario",
                "expected flag",
                "surfaces at",
                "time to flag (s)",
                "bound (s)",
                "within bound",
                "reason seen",
            ],
            rows,
        )
    )
    if faults is not None:
        print(
            f"\nfalse flags during {faults['minutes']} min of faults on {faults['apps']} apps: "
            f"{len(faults['false_flags'])} (faults injected: {faults['faults_injected']}, kinds "
            f"{faults['fault_kinds']}); Zoom answers {faults['zoom_answers_during_run']}; Ready=False "
            f"transitions {faults['ready_false_transitions']} {faults['ready_false_reasons']}; "
            f"Ready at end {faults['ready_at_end']}/{faults['apps']}"
        )
    print(f"results: {root / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
