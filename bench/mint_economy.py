"""Mint economy: tokens minted per app under churn, the operator against a naive per-pod minter, in one run.

    .venv/bin/python bench/mint_economy.py --lifetimes 50     # recorded run, 50 min
    .venv/bin/python bench/mint_economy.py --lifetimes 5      # make bench

Time is compressed: the simulator's tokens live `--ttl` seconds (60) and the ZoomApp renews
`--renew-before` seconds early (10), standing for Zoom's 3600 s tokens renewed 600 s early. The CRD
allows renewBeforeSeconds >= 10, so 60/10 is the strongest compression that keeps the 6:1 ratio. Every other
operator timer that matters is compressed by the same factor (3600 / ttl): probe.intervalSeconds
(300 s), mintBudgetPerHour (6 per real hour), the naive SDK's early refresh (60 s), the kubelet's
Secret-volume sync (60 s) and kopf's peering lifetime (60 s, never below 3 s, so keep-alives every 1 s
stay well inside it).

The workload, identical for both arms:
- one Zoom app served by the operator: 3 replicas with kopf peering (distinct priorities, so exactly one
  is active); every 2-4 lifetimes, at a random moment, the active replica is killed with SIGKILL and a
  new replica is started (half the time with the highest priority, so it takes over on arrival; half
  the time as a standby);
- 100 consumer processes (real processes, standard library only; bench/consumer.py). Each one reads the
  operator's token from the file a kubelet would mount and calls the Zoom API with it, and also runs a
  naive SDK for a second app with the same Zoom settings: mint, cache in memory, refresh early, lose the
  cache on restart. Each consumer restarts (SIGKILL + start) at random moments, on average once every
  `--consumer-restart-lifetimes` lifetimes;
- the "kubelet": a thread that polls the token Secret through the API every (compressed) sync period and
  writes a JSON copy atomically (write, then rename, as kubelet's atomic writer swaps `..data`).

Measured: tokens issued per app (the simulator's counter) against the floor
`lifetimes x expires_in / (expires_in - renewBeforeSeconds)`; the moments the Secret held an expired
token (a WATCH on the Secret gives every version's arrival time; an episode is a stretch of wall time
during which the newest version's `expires_at` had passed); the closest a renewal came to expiry; how
long each failover left no replica active (from each replica's `zoom_operator_managed_apps` gauge,
polled every 0.5 s); and the consumers' API answers per arm.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Kube,
    Operator,
    condition_of,
    create_namespace,
    credentials_secret,
    load_average,
    log,
    machine_info,
    markdown_table,
    proc_sample,
    secret_path,
    sim_pid,
    simulator,
    start_control_plane,
    workdir,
    write_figures,
    write_json,
    zoomapp,
    zoomapp_path,
)

NAMESPACE = "mint"
APP = "meetings-bot"
PEERING = "zoom-operator"
OWNER = "owner@example.com"
CONSUMER = Path(__file__).resolve().parent / "consumer.py"


def sim_state() -> dict[str, Any]:
    unlimited = {"per_second": 100_000}
    app = {
        "account_id": "acc-mint",
        "owner_user_id": "u-owner",
        "status": "active",
        "scopes": ["user:read:admin", "meeting:write:admin"],
    }
    return {
        "accounts": [
            {
                "id": "acc-mint",
                "plan": "business",
                "rate_limits": {"Light": unlimited, "Medium": unlimited, "Heavy": unlimited},
            }
        ],
        "roles": [
            {
                "id": "role-admin",
                "name": "Admin",
                "privileges": ["ServerToServerOAuthApp:Edit", "Account:Edit", "User:Read", "Meeting:Edit"],
            }
        ],
        "users": [
            {
                "id": "u-owner",
                "email": OWNER,
                "account_id": "acc-mint",
                "role_id": "role-admin",
                "status": "active",
            }
        ],
        "apps": [
            {"client_id": "operator-client", "client_secret": "operator-secret", **app},
            {"client_id": "naive-client", "client_secret": "naive-secret", **app},
        ],
    }


class SecretTimeline:
    """WATCH the token Secret; keep (arrival wall time, issued_at, expires_at) of every new token."""

    def __init__(self, kube: Kube, name: str) -> None:
        self.kube = kube
        self.name = name
        self.versions: list[tuple[float, float, float]] = []
        self._stop = threading.Event()
        self._client: httpx.Client | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> SecretTimeline:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._client is not None:
            self._client.close()

    def _observe(self, secret: dict[str, Any]) -> None:
        data = secret.get("data") or {}
        if "expires_at" not in data:
            return
        issued = _unix(base64.b64decode(data["issued_at"]).decode())
        expires = _unix(base64.b64decode(data["expires_at"]).decode())
        if not self.versions or self.versions[-1][2] != expires:
            self.versions.append((time.time(), issued, expires))

    def _run(self) -> None:
        self._client = client = httpx.Client(
            base_url=self.kube.cp.server, verify=self.kube._ssl, timeout=httpx.Timeout(30.0, read=90.0)
        )
        path = secret_path(NAMESPACE)
        selector = f"metadata.name={self.name}"
        version = ""
        while not self._stop.is_set():
            try:
                if not version:
                    listing = client.get(path, params={"fieldSelector": selector}).json()
                    for item in listing.get("items") or []:
                        self._observe(item)
                    version = listing["metadata"]["resourceVersion"]
                params = {
                    "watch": "1",
                    "fieldSelector": selector,
                    "resourceVersion": version,
                    "timeoutSeconds": "60",
                }
                with client.stream("GET", path, params=params) as response:
                    for line in response.iter_lines():
                        if not line:
                            continue
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            version = ""
                            break
                        version = event["object"]["metadata"]["resourceVersion"]
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self._observe(event["object"])
            except Exception as error:
                if not self._stop.is_set():
                    log(f"secret watch: {error!r}")
                    time.sleep(0.5)


class Kubelet:
    """Polls the token Secret every `period` s and mirrors its data atomically into a JSON file."""

    def __init__(self, kube: Kube, name: str, path: Path, period: float) -> None:
        self.kube, self.name, self.path, self.period = kube, name, path, period
        self._stop = threading.Event()
        self.writes = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Kubelet:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        last = ""
        while not self._stop.wait(self.period * random.uniform(0.5, 1.0)):
            try:
                secret = self.kube.request("GET", f"{secret_path(NAMESPACE)}/{self.name}", ok=(404,))
            except Exception as error:
                log(f"kubelet: {error!r}")
                continue
            if not isinstance(secret, dict) or "data" not in secret:
                continue
            version = secret["metadata"]["resourceVersion"]
            if version == last:
                continue
            data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
            data["expires_at_unix"] = _unix(data["expires_at"])
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data))
            os.replace(tmp, self.path)
            self.writes += 1
            last = version


def _unix(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def managed_apps(op: Operator) -> int | None:
    try:
        text = httpx.get(f"http://127.0.0.1:{op.metrics_port}/metrics", timeout=2).text
    except httpx.HTTPError:
        return None
    for line in text.splitlines():
        if line.startswith("zoom_operator_managed_apps "):
            return int(float(line.split()[-1]))
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lifetimes", type=float, default=8, help="run length in token lifetimes")
    parser.add_argument("--ttl", type=int, default=60, help="simulator token lifetime (s), stands for 3600")
    parser.add_argument("--renew-before", type=int, default=10, help="renewBeforeSeconds (stands for 600)")
    parser.add_argument("--consumers", type=int, default=100)
    parser.add_argument("--call-interval", type=float, default=5.0, help="seconds between a consumer's calls")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--restart-every", default="2,4", help="operator restarts every U(a,b) lifetimes")
    parser.add_argument(
        "--consumer-restart-lifetimes",
        type=float,
        default=10.0,
        help="mean lifetimes between restarts of one consumer",
    )
    parser.add_argument(
        "--peering-lifetime",
        type=int,
        default=None,
        help="kopf peering lifetime (s); default 60 s compressed, at least 3",
    )
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--workdir")
    parser.add_argument("--json")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    scale = 3600 / args.ttl  # compression factor
    probe_interval = max(5, round(300 / scale))
    budget = min(3600, math.ceil(6 * scale))
    naive_early = 60 / scale
    kubelet_period = max(0.25, 60 / scale)
    peering_lifetime = args.peering_lifetime or max(3, round(60 / scale))
    root = workdir("mint-economy", args.workdir)
    settings = {
        "ttl_s": args.ttl,
        "renew_before_s": args.renew_before,
        "compression": round(scale, 1),
        "lifetimes": args.lifetimes,
        "probe_interval_s": probe_interval,
        "mint_budget_per_hour": budget,
        "naive_early_s": round(naive_early, 2),
        "kubelet_period_s": kubelet_period,
        "peering_lifetime_s": peering_lifetime,
        "consumers": args.consumers,
        "replicas": args.replicas,
        "call_interval_s": args.call_interval,
        "restart_every_lifetimes": args.restart_every,
        "consumer_restart_lifetimes": args.consumer_restart_lifetimes,
    }
    log(f"mint economy; settings {settings}; logs in {root}")
    machine = machine_info()
    cp = start_control_plane(root)
    kube = Kube(cp)
    sim = simulator(sim_state(), ttl=args.ttl).start()
    operators: list[tuple[Operator, int]] = []
    consumers: dict[int, subprocess.Popen[bytes]] = {}
    timeline = SecretTimeline(kube, f"{APP}-token")
    token_file = root / "mounted-token.json"
    kubelet = Kubelet(kube, f"{APP}-token", token_file, kubelet_period)
    events_dir = root / "consumers"
    events_dir.mkdir()
    restarts: list[dict[str, Any]] = []
    counter = 0

    def start_replica(priority: int) -> Operator:
        nonlocal counter
        counter += 1
        op = Operator(
            cp.kubeconfig,
            root / f"operator-{counter}-p{priority}.log",
            namespaces=[NAMESPACE],
            args=["--peering", PEERING, "--priority", str(priority)],
            peering_lifetime=peering_lifetime,
            name=f"op{counter}",
            allow_endpoints=[sim.base_url],
        ).start()
        operators.append((op, priority))
        return op

    def start_consumer(index: int) -> None:
        consumers[index] = subprocess.Popen(
            [
                sys.executable,
                str(CONSUMER),
                "--base-url",
                sim.base_url,
                "--token-file",
                str(token_file),
                "--account-id",
                "acc-mint",
                "--naive-client-id",
                "naive-client",
                "--naive-client-secret",
                "naive-secret",
                "--naive-early",
                str(naive_early),
                "--interval",
                str(args.call_interval),
                "--events",
                str(events_dir / f"{index:03d}.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    try:
        create_namespace(kube, NAMESPACE, peering=PEERING)
        kube.request(
            "POST",
            secret_path(NAMESPACE),
            credentials_secret(f"{APP}-zoom", "acc-mint", "operator-client", "operator-secret"),
        )
        for i in range(args.replicas):
            start_replica(100 - 10 * i)
        timeline.start()
        kube.request(
            "POST",
            zoomapp_path(NAMESPACE),
            zoomapp(
                APP,
                credentials=f"{APP}-zoom",
                base_url=sim.base_url,
                owner_email=OWNER,
                requiredScopes=["user:read:admin"],
                renewBeforeSeconds=args.renew_before,
                probe={"intervalSeconds": probe_interval},
                mintBudgetPerHour=budget,
            ),
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            obj = kube.request("GET", f"{zoomapp_path(NAMESPACE)}/{APP}")
            ready = condition_of(obj, "Ready")
            if ready and ready["status"] == "True":
                break
            time.sleep(0.2)
        else:
            raise RuntimeError("the ZoomApp did not become Ready within 120 s")
        start_wall = timeline.versions[0][1] if timeline.versions else time.time()  # first token's issued_at
        log(
            f"ready; first token issued {time.time() - start_wall:.1f} s ago; "
            f"starting {args.consumers} consumers"
        )
        kubelet.start()
        for i in range(args.consumers):
            start_consumer(i)
        duration = args.lifetimes * args.ttl
        end_wall = start_wall + duration
        lo, hi = (float(x) for x in args.restart_every.split(","))
        next_restart = time.time() + rng.uniform(lo, hi) * args.ttl
        consumer_next = {
            i: time.time() + rng.expovariate(1 / (args.consumer_restart_lifetimes * args.ttl))
            for i in range(args.consumers)
        }
        consumer_restarts = 0
        active_log: list[tuple[float, int]] = []  # (time, number of replicas serving the app)
        last_report = time.time()
        mint_timeline: list[list[float]] = []  # [seconds since the first token, operator, naive] every 5 s
        last_sample = 0.0
        while time.time() < end_wall:
            now = time.time()
            counts = [managed_apps(op) for op, _ in operators if op.alive()]
            serving = sum(1 for c in counts if c)
            if not active_log or active_log[-1][1] != serving:
                active_log.append((now, serving))
            if now >= next_restart:
                alive = [(op, p) for op, p in operators if op.alive()]
                active = [(op, p) for op, p in alive if managed_apps(op)]
                victim, prio = (active or sorted(alive, key=lambda x: -x[1]))[0]
                victim.kill(signal.SIGKILL)
                priorities = [p for _, p in alive]
                new_prio = max(priorities) + 10 if rng.random() < 0.5 else min(priorities) - 10
                new = start_replica(new_prio)
                restarts.append(
                    {
                        "at": round(now - start_wall, 1),
                        "killed": victim.name,
                        "killed_priority": prio,
                        "was_active": bool(active),
                        "new": new.name,
                        "new_priority": new_prio,
                    }
                )
                log(
                    f"restart {len(restarts)}: killed {victim.name} (priority {prio}), started {new.name} "
                    f"(priority {new_prio})"
                )
                next_restart = now + rng.uniform(lo, hi) * args.ttl
            for i, at in consumer_next.items():
                if now >= at:
                    proc = consumers[i]
                    if proc.poll() is None:
                        os.killpg(proc.pid, signal.SIGKILL)
                        proc.wait()
                    start_consumer(i)
                    consumer_restarts += 1
                    consumer_next[i] = now + rng.expovariate(1 / (args.consumer_restart_lifetimes * args.ttl))
            if now - last_sample >= 5:
                issued = sim.stats()["tokens_issued"]
                counts = [issued.get("operator-client", 0), issued.get("naive-client", 0)]
                mint_timeline.append([round(now - start_wall, 1), *counts])
                last_sample = now
            if now - last_report > 60:
                stats = sim.stats()["tokens_issued"]
                log(
                    f"t={now - start_wall:.0f}/{duration:.0f}s minted: "
                    f"operator {stats.get('operator-client', 0)}, "
                    f"naive {stats.get('naive-client', 0)}; Secret versions {len(timeline.versions)}; "
                    f"load {load_average()}"
                )
                last_report = now
            time.sleep(0.5)
        for proc in consumers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        end_actual = time.time()
        stats = sim.stats()
        sim_cpu = proc_sample(sim_pid(sim)).cpu_seconds
    finally:
        kubelet.stop()
        timeline.stop()
        for proc in consumers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for op, _ in operators:
            op.stop()
        sim.stop()
        cp.stop()
        shutil.rmtree(root / "control-plane", ignore_errors=True)

    # ---- the numbers ---------------------------------------------------------------------------
    lifetimes = (end_actual - start_wall) / args.ttl
    floor = lifetimes * args.ttl / (args.ttl - args.renew_before)
    naive_floor_per_consumer = lifetimes * args.ttl / (args.ttl - naive_early)
    operator_mints = stats["tokens_issued"].get("operator-client", 0)
    naive_mints = stats["tokens_issued"].get("naive-client", 0)
    versions = timeline.versions
    episodes: list[float] = []
    margins: list[float] = []
    for (_arrived, _, expires), nxt in zip(versions, [*versions[1:], None], strict=True):
        next_arrival = nxt[0] if nxt is not None else end_actual
        if next_arrival > expires:
            episodes.append(round(next_arrival - expires, 2))
        if nxt is not None:
            margins.append(expires - nxt[0])
    events: Counter[str] = Counter()
    for path in events_dir.glob("*.log"):
        for line in path.read_text().splitlines():
            parts = line.split()
            if len(parts) == 5 and float(parts[0]) <= end_actual:
                events[" ".join(parts[1:])] += 1
    gaps = []
    for (t, serving), nxt in zip(active_log, [*active_log[1:], None], strict=True):
        if serving == 0 and nxt is not None and t > start_wall + 1:
            gaps.append(round(nxt[0] - t, 1))
    result = {
        "machine": machine,
        "settings": settings,
        "lifetimes_measured": round(lifetimes, 2),
        "operator": {
            "minted": operator_mints,
            "floor": round(floor, 2),
            "ratio": round(operator_mints / floor, 3),
            "secret_versions": len(versions),
            "expired_episodes": len(episodes),
            "expired_seconds": round(sum(episodes), 2),
            "closest_renewal_s_before_expiry": round(min(margins), 2) if margins else None,
            "restarts": len(restarts),
            "restarts_of_active": sum(1 for r in restarts if r["was_active"]),
            "no_active_replica_gaps_s": gaps,
        },
        "naive": {
            "minted": naive_mints,
            "floor_if_one_minter": round(floor, 2),
            "floor_100_minters_no_restarts": round(args.consumers * naive_floor_per_consumer, 1),
            "ratio_to_floor": round(naive_mints / floor, 2),
            "consumer_restarts": consumer_restarts,
        },
        "naive_over_operator": round(naive_mints / max(1, operator_mints), 1),
        "consumer_calls": dict(sorted(events.items())),
        "simulator_requests": stats["requests"],
        "simulator_cpu_s": round(sim_cpu, 1),
        "restart_log": restarts,
        "mint_timeline": mint_timeline,
        "load_after": load_average(),
    }
    write_json(root / "results.json", result)
    write_figures(root / "results.json")
    if args.json:
        write_json(Path(args.json), result)
    op_calls = {k: v for k, v in events.items() if k.startswith("op ")}
    naive_calls = {k: v for k, v in events.items() if k.startswith("naive call")}
    print()
    print(
        markdown_table(
            ["", "operator (3 replicas, peering)", f"naive SDK in each of {args.consumers} consumers"],
            [
                ("tokens minted", operator_mints, naive_mints),
                ("floor (one minter)", f"{floor:.1f}", f"{floor:.1f}"),
                ("minted / floor", f"{operator_mints / floor:.3f}", f"{naive_mints / floor:.1f}"),
                (
                    "restarts during the run",
                    f"{len(restarts)} operator (kill -9)",
                    f"{consumer_restarts} consumer",
                ),
                ("Secret held an expired token", f"{len(episodes)} episodes, {sum(episodes):.2f} s", "n/a"),
                (
                    "API calls answered 200 / other",
                    f"{sum(v for k, v in op_calls.items() if ' 200 ' in k + ' ')} / "
                    f"{sum(v for k, v in op_calls.items() if ' 200 ' not in k + ' ')}",
                    f"{sum(v for k, v in naive_calls.items() if ' 200 ' in k + ' ')} / "
                    f"{sum(v for k, v in naive_calls.items() if ' 200 ' not in k + ' ')}",
                ),
            ],
        )
    )
    print(
        f"\nnaive / operator mints: {result['naive_over_operator']}x over {lifetimes:.1f} lifetimes "
        f"(ttl {args.ttl} s, renewBefore {args.renew_before} s = 3600/600 compressed {scale:.0f}x)"
    )
    print(
        f"closest renewal before expiry: {result['operator']['closest_renewal_s_before_expiry']} s; "
        f"no-active-replica gaps (s): {gaps}"
    )
    print(f"consumer calls: {dict(sorted(events.items()))}")
    print(f"results: {root / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
