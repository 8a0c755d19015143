"""Scale: N ZoomApps on one operator (or N split over sharded operators) against the local control plane
and the simulator. For each size: time until every app is Ready, operator RSS and CPU at steady state,
API-server requests and Zoom requests per app-hour, mints per app.

    .venv/bin/python bench/scale.py --sizes 100,1000,10000
    .venv/bin/python bench/scale.py --sizes 10000 --shards 2,4 --steady 120

How a run goes, per (size, shards):
1. a fresh control plane (so apiserver_request_total belongs to this run alone) and a simulator whose
   state has one account (rate limits raised: this measures the operator, not Zoom's QPS table), one
   owner and N apps; tokens live 3599 s (Zoom's default), probe.intervalSeconds is 300 (the CRD's
   default) and renewBeforeSeconds 600: steady state is what a real cluster does all day;
2. N labelled credentials Secrets and N ZoomApps are POSTed by a thread pool (operator not running);
   the chart's RBAC is installed with `helm install`, and the operators authenticate as its
   ServiceAccount (a bound token), as a deployed operator does;
3. the operator process(es) start; a LIST+WATCH on ZoomApps timestamps every Ready transition, while
   /proc is sampled every 2 s: time to first / all Ready, peak RSS during the ramp;
4. steady state: the bench's watch is closed (so the API-server counters hold only the operator's
   requests) and for `--steady` seconds (default = the probe interval, so every app probes exactly once
   in the window whatever its phase) the deltas of apiserver_request_total, the simulator's request
   counter and each operator's CPU time are taken; RSS at the end;
5. the simulator's tokens_issued per client: with sharding, any app with more than one mint would mean
   two processes served it.
Optionally `--profile` runs py-spy (idle frames excluded) during the ramp and the steady window and
prints where the CPU went.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Kube,
    Operator,
    ZoomAppWatch,
    apiserver_cpu_profile,
    chart_identity,
    create_namespace,
    credentials_secret,
    leaf_modules,
    load_average,
    log,
    machine_info,
    markdown_table,
    proc_sample,
    py_spy_record,
    secret_path,
    sim_pid,
    simulator,
    start_control_plane,
    summarize_collapsed,
    workdir,
    write_figures,
    write_json,
    zoomapp,
    zoomapp_path,
)

NAMESPACE = "scale"
OWNER_EMAIL = "owner@example.com"


def sim_state(n: int) -> dict[str, Any]:
    unlimited = {"per_second": 1_000_000}
    return {
        "accounts": [
            {
                "id": "acc-scale",
                "plan": "business",
                "rate_limits": {"Light": unlimited, "Medium": unlimited, "Heavy": unlimited},
            }
        ],
        "roles": [
            {
                "id": "role-admin",
                "name": "Admin",
                "privileges": [
                    "ServerToServerOAuthApp:Read",
                    "ServerToServerOAuthApp:Edit",
                    "Account:Edit",
                    "User:Read",
                    "User:Edit",
                    "Role:Read",
                    "Meeting:Read",
                    "Meeting:Edit",
                ],
            }
        ],
        "users": [
            {
                "id": "u-owner",
                "email": OWNER_EMAIL,
                "account_id": "acc-scale",
                "role_id": "role-admin",
                "status": "active",
            }
        ],
        "apps": [
            {
                "client_id": client_id(i),
                "client_secret": f"secret-{i:05d}",
                "account_id": "acc-scale",
                "owner_user_id": "u-owner",
                "scopes": ["user:read:admin", "meeting:write:admin", "role:read:admin"],
                "status": "active",
            }
            for i in range(n)
        ],
    }


def client_id(i: int) -> str:
    return f"scale-client-{i:05d}"


def run_one(args: argparse.Namespace, n: int, shards: int, root: Path) -> dict[str, Any]:
    label = f"n{n}-s{shards}"
    run_dir = root / label
    run_dir.mkdir()
    log(f"=== {n} ZoomApps, {shards} operator process(es); load {load_average()}")
    cp = start_control_plane(run_dir, profiling=args.apiserver_profile is not None)
    kube = Kube(cp)
    sim = simulator(sim_state(n)).start()
    operators: list[Operator] = []
    watch: ZoomAppWatch | None = None
    result: dict[str, Any] = {"apps": n, "shards": shards, "load_before": load_average()}
    try:
        create_namespace(kube, NAMESPACE)
        # the operators authenticate as the chart's ServiceAccount, with its Role (what a deployment pays)
        operator_kubeconfig = chart_identity(cp, run_dir, [NAMESPACE])
        items: list[tuple[str, dict[str, Any]]] = []
        for i in range(n):
            items.append(
                (
                    secret_path(NAMESPACE),
                    credentials_secret(f"app-{i:05d}-zoom", "acc-scale", client_id(i), f"secret-{i:05d}"),
                )
            )
        result["create_secrets_s"] = round(kube.create_many(items), 1)
        apps = [
            (
                zoomapp_path(NAMESPACE),
                zoomapp(
                    f"app-{i:05d}",
                    credentials=f"app-{i:05d}-zoom",
                    base_url=sim.base_url,
                    owner_email=OWNER_EMAIL,
                    requiredScopes=["user:read:admin"],
                    probe={"intervalSeconds": args.probe_interval},
                    renewBeforeSeconds=600,
                ),
            )
            for i in range(n)
        ]
        result["create_zoomapps_s"] = round(kube.create_many(apps), 1)
        log(
            f"created {n} Secrets in {result['create_secrets_s']} s and {n} ZoomApps in "
            f"{result['create_zoomapps_s']} s"
        )

        ready_times: list[float] = []
        ready_seen: set[str] = set()
        lock = threading.Lock()

        def on_change(at: float, key: str, view: Any) -> None:
            if view.conditions.get("Ready", ("", ""))[0] == "True":
                with lock:
                    if key not in ready_seen:
                        ready_seen.add(key)
                        ready_times.append(at)

        watch = ZoomAppWatch(kube, on_change, namespace=NAMESPACE).start()
        others0, machine0 = _other_cpu(sim), psutil.cpu_times()
        api0 = kube.apiserver_requests()
        sim0 = sim.stats()
        for index in range(shards):
            shard = ["--shard", f"{index}/{shards}"] if shards > 1 else []
            extra = ["--standalone", *shard, *args.operator_arg]
            env = {"BENCH_MEMDUMP": str(run_dir / f"memdump-{index}.txt")}
            if args.kopf_worker_limit:
                env["BENCH_KOPF_WORKER_LIMIT"] = str(args.kopf_worker_limit)
            if args.tracemalloc:
                env["BENCH_TRACEMALLOC"] = str(run_dir / f"tracemalloc-{index}.txt")
            operators.append(
                Operator(
                    operator_kubeconfig,
                    run_dir / f"operator-{index}.log",
                    namespaces=[NAMESPACE],
                    args=extra,
                    env=env,
                    name=f"operator-{index}",
                    allow_endpoints=[sim.base_url],
                ).start()
            )
        t0 = min(op.started_at for op in operators)
        profile_ramp = None
        if args.profile:
            profile_ramp = py_spy_record(operators[0].pid, args.profile_seconds, run_dir / "ramp.collapsed")
        if args.apiserver_profile is not None:
            threading.Thread(
                target=apiserver_cpu_profile,
                args=(cp, run_dir / "apiserver.pprof", *args.apiserver_profile),
                daemon=True,
            ).start()
        peak_rss = [0.0] * shards
        timeline: list[dict[str, Any]] = []
        deadline = t0 + args.ready_timeout_base + n * args.ready_timeout_per_app
        while time.monotonic() < deadline:
            with lock:
                ready = len(ready_seen)
            samples = [proc_sample(op.pid) for op in operators if op.alive()]
            for i, s in enumerate(samples):
                peak_rss[i] = max(peak_rss[i], s.rss_mb)
            timeline.append(
                {
                    "t": round(time.monotonic() - t0, 1),
                    "ready": ready,
                    "rss_mb": [round(s.rss_mb, 1) for s in samples],
                    "cpu_s": [round(s.cpu_seconds, 1) for s in samples],
                }
            )
            if len(timeline) % 15 == 1:
                log(
                    f"  t={timeline[-1]['t']:.0f}s ready {ready}/{n} rss {timeline[-1]['rss_mb']} MB "
                    f"cpu {timeline[-1]['cpu_s']} s"
                )
            if ready >= n:
                break
            if not all(op.alive() for op in operators):
                raise RuntimeError(f"an operator exited; see {run_dir}")
            time.sleep(2)
        with lock:
            times = sorted(ready_times)
        result["ready"] = len(times)
        result["first_ready_s"] = round(times[0] - t0, 1) if times else None
        result["all_ready_s"] = round(times[-1] - t0, 1) if len(times) >= n else None
        result["p50_ready_s"] = round(times[len(times) // 2] - t0, 1) if times else None
        result["ramp_peak_rss_mb"] = [round(x, 1) for x in peak_rss]
        ramp_cpu = [proc_sample(op.pid).cpu_seconds for op in operators]
        result["ramp_cpu_s"] = [round(x, 1) for x in ramp_cpu]
        # what else the ramp cost the machine: the control plane, the simulator, this script
        others1, machine1 = _other_cpu(sim), psutil.cpu_times()
        result["ramp_cpu_others_s"] = {k: round(v - others0.get(k, 0.0), 1) for k, v in others1.items()}
        busy = [b - a for a, b in zip(machine0, machine1, strict=True)]
        fields = type(machine1)._fields
        idle = sum(x for x, f in zip(busy, fields, strict=True) if f in ("idle", "iowait"))
        result["ramp_machine_busy_pct"] = round(100 * (1 - idle / sum(busy)), 1) if sum(busy) else None
        api1 = kube.apiserver_requests()
        sim1 = sim.stats()
        result["ramp_api_requests_per_app"] = round(sum((api1 - api0).values()) / n, 2)
        result["ramp_api_by_resource"] = _top((api1 - api0), 12)
        result["ramp_zoom_requests_per_app"] = round((sim1["requests"] - sim0["requests"]) / n, 2)
        result["ramp_zoom_endpoints"] = {
            k: v - sim0["endpoints"].get(k, 0)
            for k, v in sim1["endpoints"].items()
            if v - sim0["endpoints"].get(k, 0)
        }
        log(
            f"all ready: {result['all_ready_s']} s (first {result['first_ready_s']} s); peak RSS "
            f"{result['ramp_peak_rss_mb']} MB; ramp CPU {result['ramp_cpu_s']} s; "
            f"{result['ramp_api_requests_per_app']} API and "
            f"{result['ramp_zoom_requests_per_app']} Zoom requests/app; others' CPU "
            f"{result['ramp_cpu_others_s']} s, machine {result['ramp_machine_busy_pct']} % busy"
        )
        if profile_ramp is not None:
            profile_ramp.wait(timeout=args.profile_seconds + 60)

        # Steady state: nothing but the operator talks to the API server.
        watch.stop()
        time.sleep(args.settle)
        api_a, sim_a = kube.apiserver_requests(), sim.stats()
        cpu_a = [proc_sample(op.pid).cpu_seconds for op in operators]
        window_start = time.monotonic()
        rss_max = [0.0] * shards
        while time.monotonic() - window_start < args.steady:
            for i, op in enumerate(operators):
                rss_max[i] = max(rss_max[i], proc_sample(op.pid).rss_mb)
            time.sleep(min(10.0, max(0.5, args.steady - (time.monotonic() - window_start))))
        window = time.monotonic() - window_start
        api_b, sim_b = kube.apiserver_requests(), sim.stats()
        samples_b = [proc_sample(op.pid) for op in operators]
        app_hours = n * window / 3600
        api_delta = api_b - api_a
        # the two /metrics scrapes are non-resource requests: not in these sums
        result["steady_window_s"] = round(window, 1)
        result["steady_rss_mb"] = [round(s.rss_mb, 1) for s in samples_b]
        result["steady_rss_max_mb"] = [round(x, 1) for x in rss_max]
        result["steady_cpu_pct"] = [
            round(100 * (b.cpu_seconds - a) / window, 2) if window else None
            for a, b in zip(cpu_a, samples_b, strict=True)
        ]
        result["api_requests_per_app_hour"] = (
            round(sum(api_delta.values()) / app_hours, 3) if window else None
        )
        result["steady_api_by_resource"] = _top(api_delta, 12)
        result["zoom_requests_per_app_hour"] = (
            round((sim_b["requests"] - sim_a["requests"]) / app_hours, 2) if window else None
        )
        result["steady_zoom_endpoints"] = {
            k: v - sim_a["endpoints"].get(k, 0)
            for k, v in sim_b["endpoints"].items()
            if v - sim_a["endpoints"].get(k, 0)
        }
        result["simulator_rss_mb"] = round(proc_sample(sim_pid(sim)).rss_mb, 1)
        issued = sim_b["tokens_issued"]
        result["mints_total"] = sum(issued.values())
        result["apps_minted_more_than_once"] = sum(1 for c in issued.values() if c > 1)
        result["apps_never_minted"] = n - sum(1 for c in issued.values() if c >= 1)
        served = []
        for op in operators:
            text = op.metrics()
            served.append(
                next(
                    (
                        int(float(line.split()[-1]))
                        for line in text.splitlines()
                        if line.startswith("zoom_operator_managed_apps ")
                    ),
                    None,
                )
            )
        result["apps_per_process"] = served
        log(
            f"steady {window:.0f}s: RSS {result['steady_rss_mb']} MB, CPU {result['steady_cpu_pct']} %, "
            f"API {result['api_requests_per_app_hour']} req/app-h, "
            f"Zoom {result['zoom_requests_per_app_hour']} "
            f"req/app-h; apps per process {served}; minted twice: {result['apps_minted_more_than_once']}"
        )
        if args.profile:
            spy = py_spy_record(operators[0].pid, args.profile_seconds, run_dir / "steady.collapsed")
            if spy is not None:
                spy.wait(timeout=args.profile_seconds + 60)
            for phase in ("ramp", "steady"):
                path = run_dir / f"{phase}.collapsed"
                result[f"profile_{phase}_inclusive"] = [
                    (k, round(v, 1)) for k, v in summarize_collapsed(path, 25)
                ]
                result[f"profile_{phase}_self_by_package"] = [(k, round(v, 1)) for k, v in leaf_modules(path)]
        if args.memdump or args.tracemalloc:
            os.kill(operators[0].pid, signal.SIGUSR1)
            name = "tracemalloc-0.txt" if args.tracemalloc else "memdump-0.txt"
            deadline = time.monotonic() + 120
            while not (run_dir / name).exists() and time.monotonic() < deadline:
                time.sleep(1)
            time.sleep(2)
            if (run_dir / name).exists():
                result["memdump"] = (run_dir / name).read_text()
                print(result["memdump"][:5000])
        result["timeline"] = timeline[:: max(1, len(timeline) // 60)]
        result["load_after"] = load_average()
        return result
    finally:
        if watch is not None:
            watch.stop()
        for op in operators:
            op.stop()
        sim.stop()
        cp.stop()
        if not args.keep:
            shutil.rmtree(run_dir / "control-plane", ignore_errors=True)


def _top(counter: Counter[tuple[str, str]], k: int) -> dict[str, int]:
    return {f"{verb} {resource}": count for (verb, resource), count in counter.most_common(k) if count}


def _other_cpu(sim: Any) -> dict[str, float]:
    """CPU seconds so far of the control plane's processes, the simulator and this script."""
    totals = {"kube-apiserver": 0.0, "etcd": 0.0}
    for proc in psutil.process_iter(["name", "cpu_times"]):
        name = proc.info["name"] or ""
        times = proc.info["cpu_times"]
        if name in totals and times is not None:
            totals[name] += times.user + times.system
    totals["simulator"] = proc_sample(sim_pid(sim)).cpu_seconds
    own = psutil.Process().cpu_times()  # this script alone (proc_sample would add its children)
    totals["bench"] = own.user + own.system
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000", help="comma-separated numbers of ZoomApps")
    parser.add_argument("--shards", default="1", help="comma-separated operator process counts")
    parser.add_argument("--probe-interval", type=int, default=300)
    parser.add_argument(
        "--steady",
        type=float,
        default=None,
        help="steady-state window in seconds (default: the probe interval)",
    )
    parser.add_argument(
        "--settle", type=float, default=15.0, help="seconds after all Ready before the window"
    )
    parser.add_argument("--ready-timeout-base", type=float, default=120.0)
    parser.add_argument("--ready-timeout-per-app", type=float, default=0.2)
    parser.add_argument("--profile", action="store_true", help="py-spy during the ramp and steady state")
    parser.add_argument("--profile-seconds", type=int, default=60)
    parser.add_argument(
        "--apiserver-profile",
        nargs=2,
        type=int,
        metavar=("AFTER", "SECONDS"),
        help="kube-apiserver with --profiling=true; a CPU profile of SECONDS, AFTER seconds into the ramp, "
        "to <run>/apiserver.pprof (read it with `go tool pprof -top -cum <kube-apiserver> FILE`)",
    )
    parser.add_argument("--tracemalloc", action="store_true", help="trace the first operator's allocations")
    parser.add_argument("--memdump", action="store_true", help="census of the first operator's live objects")
    parser.add_argument(
        "--kopf-worker-limit", type=int, help="experiment: cap kopf's concurrent per-object workers"
    )
    parser.add_argument("--workdir", help="where runs keep logs (default bench/.runs)")
    parser.add_argument("--keep", action="store_true", help="keep each control plane's folder")
    parser.add_argument("--json", help="write the results here as JSON")
    parser.add_argument(
        "--operator-arg", action="append", default=[], help="an extra `zoom-operator run` argument"
    )
    args = parser.parse_args()
    if args.steady is None:
        args.steady = float(args.probe_interval)
    root = workdir("scale", args.workdir)
    results = {
        "machine": machine_info(),
        "settings": {
            "probe_interval_s": args.probe_interval,
            "token_ttl_s": 3599,
            "renew_before_s": 600,
            "steady_window_s": args.steady,
        },
        "runs": [],
    }
    log(f"scale benchmark; logs in {root}")
    for shards in [int(s) for s in args.shards.split(",")]:
        for n in [int(s) for s in args.sizes.split(",")]:
            results["runs"].append(run_one(args, n, shards, root))
            write_json(root / "results.json", results)
    write_figures(root / "results.json")
    rows = [
        (
            r["apps"],
            r["shards"],
            r["all_ready_s"],
            r["first_ready_s"],
            " / ".join(f"{x:.0f}" for x in r["ramp_peak_rss_mb"]),
            " / ".join(f"{x:.0f}" for x in r["steady_rss_mb"]),
            " / ".join(f"{x:.1f}" for x in r["steady_cpu_pct"]),
            r["api_requests_per_app_hour"],
            r["zoom_requests_per_app_hour"],
            r["ramp_api_requests_per_app"],
            r["apps_minted_more_than_once"],
        )
        for r in results["runs"]
    ]
    print()
    print(
        markdown_table(
            [
                "apps",
                "processes",
                "all Ready (s)",
                "first Ready (s)",
                "peak RSS ramp (MB)",
                "steady RSS (MB)",
                "steady CPU (%)",
                "API req/app-h (steady)",
                "Zoom req/app-h (steady)",
                "API req/app (ramp)",
                "apps minted >1",
            ],
            rows,
        )
    )
    for r in results["runs"]:
        if "profile_steady_inclusive" in r:
            print(f"\nprofile {r['apps']} apps, ramp (inclusive %):")
            for name, pct in r["profile_ramp_inclusive"]:
                print(f"  {pct:5.1f}  {name}")
            print("ramp self time by package:", r["profile_ramp_self_by_package"])
            print("steady self time by package:", r["profile_steady_self_by_package"])
    if args.json:
        write_json(Path(args.json), results)
    print(f"\nresults: {root / 'results.json'}")
    print(json.dumps({"load_average": load_average()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
