"""The benchmark's figures as the table it prints."""

from __future__ import annotations

from typing import Any

from bench.e2e import E2E_STEPS
from bench.stack import fmt

CPU_ROLES = ("temporal", "api", "worker", "postgres", "bench")


def cpu_line(cpu: dict[str, float]) -> str:
    order = ["temporal", "api", "worker", "postgres", "supervisor", "bench", "other"]
    parts = [f"{k} {cpu[k]:.0f}%" for k in order if k in cpu and (cpu[k] >= 0.5 or k in ("temporal", "api"))]
    busy = f"; machine {cpu['machine_busy']:.0f}% busy" if "machine_busy" in cpu else ""
    return f"CPU (% of one core): {', '.join(parts)}{busy}" if parts else ""


def render(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [
        "",
        "Capstan protocol benchmark",
        f"  date {m['date']}   commit {m['commit']}",
        f"  {m['platform']}, {m['cpu_count']} CPUs (nproc {m['nproc']}), Python {m['python']}",
        f"  {m['temporal_cli']}; mode: {m['temporal_mode']}",
        (f"  load average at start {fmt(m.get('loadavg_at_start'))}; other Temporal dev servers running on this "
         f"machine: {report.get('other_dev_servers', '?')}"),
        f"  stack: {report['stack']}",
    ]
    titles = [("actions", "1. Actions: POST .../actions/pause|resume vs the same Temporal Updates", "actions"),
              ("webhooks", "2. Webhooks: signed POST /webhooks/github vs the same ci_report Signals", "deliveries")]
    for key, title, unit in titles:
        if report.get(key) is not None:
            lines += ["", title, *render_api_vs_direct(key, unit, report[key])]
    if report.get("e2e") is not None:
        lines += ["", f"3. End to end: a {E2E_STEPS}-step script protocol through the API vs a plain shell script",
                  *render_e2e(report["e2e"])]
    if report.get("steps") is not None:
        lines += ["", "4. Steps: create a planned run and one step, run it, poll until the step leaves pending/running",
                  *render_steps(report["steps"])]
    for warning in report.get("warnings", []):
        lines += ["", f"WARNING: {warning}"]
    lines.append("")
    return "\n".join(lines)


def render_api_vs_direct(key: str, unit: str, data: dict[str, Any]) -> list[str]:
    if data.get("skipped"):
        return [f"  skipped: {data['reason']}"]
    if data.get("failed"):
        return [f"  failed: {data['failed']}"]
    lines = [f"  {data['clients']} clients, {data['api']['rounds']} x {data['seconds_per_phase']:g}s per path"]
    header = f"  {'path':<8}{unit + '/s':>15}{'p50 ms':>9}{'p99 ms':>9}{'ok':>8}{'409':>6}{'errors':>8}"
    if key == "webhooks":
        header += f"{'drain s':>9}{'processed/s':>13}"
    lines.append(header)
    for path in ("api", "direct", "with_start"):
        if path not in data:
            continue
        d = data[path]
        row = (f"  {path:<8}{d['ok_per_second']:>15.1f}{fmt(d['p50_ms'], '.1f'):>9}{fmt(d['p99_ms'], '.1f'):>9}"
               f"{d['ok']:>8}{d['conflicts']:>6}{d['errors']:>8}")
        if key == "webhooks":
            row += f"{fmt(d.get('drain_seconds'), '.1f'):>9}{fmt(d.get('processed_per_second'), '.1f'):>13}"
        lines.append(row)
        if d["error_kinds"]:
            lines.append(f"      errors: {d['error_kinds']}")
        if cpu_line(d["cpu_percent_of_one_core"]):
            lines.append(f"      {cpu_line(d['cpu_percent_of_one_core'])}")
            per = d.get("cpu_ms_per_ok", {})
            roles = [k for k in CPU_ROLES if per.get(k, 0) >= 0.05]
            if roles:
                lines.append("      CPU ms per request: " + ", ".join(f"{k} {per[k]:.1f}" for k in roles))
            per = d.get("cpu_ms_per_ok_with_drain", {})
            roles = [k for k in CPU_ROLES if per.get(k, 0) >= 0.05]
            if roles:
                lines.append("      ... until processed: " + ", ".join(f"{k} {per[k]:.1f}" for k in roles)
                             + f" (total {sum(per[k] for k in roles):.1f})")
    verdict = "met" if data["met"] else "NOT met"
    lines.append(f"  ratio api/direct = {fmt(data['ratio'], '.2f')} (target >= {data['target']:.1f}: {verdict})")
    if "processed_ratio" in data:
        lines.append(f"  ratio api/direct counting until the backlog was processed = {data['processed_ratio']:.2f}")
    if "ratio_api_to_with_start" in data:
        lines.append(f"  ratio api/with_start (same Temporal calls as the API, sent directly) = "
                     f"{data['ratio_api_to_with_start']:.2f}")
    return lines


def render_e2e(e2e: dict[str, Any]) -> list[str]:
    if e2e.get("failed"):
        return [f"  failed: {e2e['failed']}"]
    lines = [f"  {'repeat':<8}{'capstan s':>11}{'shell s':>10}{'ratio':>8}"]
    for r in e2e["repeats"]:
        lines.append(f"  {r['repeat']:<8}{r['capstan_seconds']:>11.2f}{r['shell_seconds']:>10.3f}"
                     f"{fmt(r['ratio'], '.0f'):>8}")
    lines.append(f"  {'median':<8}{e2e['capstan_median_seconds']:>11.2f}{e2e['shell_median_seconds']:>10.3f}"
                 f"{fmt(e2e['ratio_median'], '.0f'):>8}")
    stages = ", ".join(f"{k} {v:.2f}s" for k, v in e2e["stage_medians"].items())
    lines.append(f"  median stages: {stages}")
    lines.append(f"  overhead {e2e['overhead_median_seconds']:.2f}s over {e2e['actions']} API actions and "
                 f"{e2e['waits']} waits")
    return lines


def render_steps(data: dict[str, Any]) -> list[str]:
    if data.get("failed"):
        return [f"  failed: {data['failed']}"]
    lines = [f"  one phase of {data['seconds_per_phase']:g}s per concurrency",
             f"  {'clients':<9}{'steps/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'ok':>7}{'errors':>8}"
             f"{'events':>8}{'WT':>5}{'AT':>5}{'LA':>5}{'upd':>5}"]
    for d in data["phases"]:
        h = d.get("history", {})
        lines.append(f"  {d['clients']:<9}{d['ok_per_second']:>9.1f}{fmt(d['p50_ms'], '.0f'):>9}"
                     f"{fmt(d['p95_ms'], '.0f'):>9}{fmt(d['p99_ms'], '.0f'):>9}{d['ok']:>7}"
                     f"{d['errors'] + d['conflicts']:>8}{fmt(h.get('events')):>8}"
                     f"{fmt(h.get('workflow_tasks_scheduled')):>5}{fmt(h.get('activity_tasks_scheduled')):>5}"
                     f"{fmt(h.get('markers_recorded')):>5}{fmt(h.get('updates_accepted')):>5}")
    lines.append("  (history of one run of the phase: events in all, workflow tasks scheduled, activity tasks "
                 "scheduled, local activities (markers), Updates accepted)")
    for d in data["phases"]:
        c = d["clients"]
        per = d.get("cpu_ms_per_ok", {})
        roles = [k for k in (*CPU_ROLES, "other") if k in per]
        if roles:
            lines.append(f"  c={c}: CPU ms per step: " + ", ".join(f"{k} {per[k]:.1f}" for k in roles)
                         + f" (total {sum(per[k] for k in roles):.1f}); "
                         + f"machine {d['cpu_percent_of_one_core'].get('machine_busy', 0):.0f}% busy")
        if d.get("final_step_statuses"):
            lines.append(f"  c={c}: steps ended {d['final_step_statuses']}")
        if d.get("history", {}).get("activity_types"):
            lines.append(f"  c={c}: activities in that run: {d['history']['activity_types']}")
        if d.get("history", {}).get("failed"):
            lines.append(f"  c={c}: history not read: {d['history']['failed']}")
        if d["error_kinds"]:
            lines.append(f"  c={c}: errors: {d['error_kinds']}")
    for t in data.get("targets", []):
        lines.append(f"  target c={t['clients']} {t['figure']} {t['target']}: {t['value']:g} "
                     f"({'met' if t['met'] else 'NOT met'})")
    return lines
