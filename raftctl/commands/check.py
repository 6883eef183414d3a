"""`raftctl check HISTORY`: judge a saved history again, redraw its report,
export it for outside checkers. Exit 0 valid, 1 invalid, 5 unknown."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from raftctl.app import DirOption, JsonOption, UnusedTimeoutOption, app, reported, settings
from raftctl.chaos.report_cap import not_promised_note
from raftctl.errors import UsageError
from raftctl.render import Output

ExportOption = Annotated[
    list[str] | None,
    typer.Option(
        "--export",
        help="Also write the history as edn (Jepsen) or porcupine (its key-value JSON); "
        "may be given twice.",
    ),
]


def check_exports(formats: list[str] | None) -> list[str]:
    from raftctl.chaos.export import EXPORT_FORMATS

    chosen = list(dict.fromkeys(formats or []))
    unknown = [name for name in chosen if name not in EXPORT_FORMATS]
    if unknown:
        raise typer.BadParameter(
            f"{', '.join(unknown)}: use edn or porcupine", param_hint="--export"
        )
    return chosen


def check_lines(checks: list[dict[str, Any]]) -> list[str]:
    """One indented line per checker for people: its verdict and why."""
    return [
        f"  {c['checker']}: {c['verdict']}"
        + (f" ({note})" if (note := not_promised_note(c)) else "")
        + ": "
        + c["explanation"].replace("\n", "\n      ")
        for c in checks
    ]


def _stored_results(directory: Path) -> dict[str, Any]:
    path = directory / "results.json"
    if not path.exists():
        return {}
    try:
        document: dict[str, Any] = json.loads(path.read_text())
        return document
    except ValueError as error:
        raise UsageError(f"{path} is not JSON: {error}") from error


def recheck(
    history_path: Path,
    workload_name: str | None,
    bank_total: int | None,
    make_report: bool,
    exports: list[str],
) -> tuple[int, dict[str, Any]]:
    """The whole of `raftctl check`, returning (exit code, document)."""
    from raftctl.chaos import checks as chaos_checks
    from raftctl.chaos.export import write_exports
    from raftctl.chaos.report import build_report
    from raftctl.chaos.run import EXIT_CODES, overall_verdict
    from raftctl.chaos.workloads import WORKLOADS, BankWorkload, make_workload, workload_of
    from raftctl.judges.history import NEMESIS, load_history
    from raftctl.judges.verdicts import HistoryError

    if history_path.is_dir():
        history_path = history_path / "history.jsonl"
    if not history_path.is_file():
        raise UsageError(f"no history at {history_path}")
    directory = history_path.parent
    try:
        events = load_history(history_path)
    except ValueError as error:
        raise UsageError(str(error)) from error
    stored = _stored_results(directory)
    written_by = stored.get("workload") or workload_of(events)
    if workload_name and written_by and workload_name != written_by:
        raise UsageError(
            f"--workload {workload_name}, but {history_path} holds a {written_by} history "
            f"(drop --workload, or say --workload {written_by})"
        )
    name = workload_name or written_by
    if name not in WORKLOADS:
        raise UsageError(
            f"cannot tell which workload wrote {history_path}: say --workload register|bank|set"
        )
    workload = make_workload(name)
    if isinstance(workload, BankWorkload):
        stored_total = next(
            (
                c["details"].get("total")
                for c in stored.get("checks", [])
                if c.get("checker") == "bank"
            ),
            None,
        )
        workload.total = bank_total or stored_total or workload.total
        stored_accounts = next(
            (
                c["details"].get("accounts")
                for c in stored.get("checks", [])
                if c.get("checker") == "bank"
            ),
            None,
        )
        if stored_accounts:  # a sharded run holds more accounts than the default
            workload.accounts = list(stored_accounts)
        else:  # a history written by hand (a tour's): the accounts its first read saw
            reads = [e for e in events if e.get("f") == "read" and e.get("type") == "ok"]
            first_read = next((e["value"] for e in reads if isinstance(e["value"], dict)), None)
            if first_read:
                workload.accounts = sorted(first_read)
    client_events = [event for event in events if event.get("process") != NEMESIS]
    began = time.monotonic()
    try:
        checks = [workload.check(client_events)]
    except (HistoryError, KeyError, TypeError) as error:
        raise UsageError(f"{history_path} is not a {name} history: {error}") from error
    checks[0].details["elapsed_ms"] = round((time.monotonic() - began) * 1000)
    nodes = directory / "nodes"
    if nodes.is_dir():
        checks += [chaos_checks.election_safety(nodes), chaos_checks.tracebacks(nodes)]
    verdict = overall_verdict(checks)
    document: dict[str, Any] = {
        **stored,
        "ok": verdict == "valid",
        "verdict": verdict,
        "valid": "unknown" if verdict == "unknown" else verdict == "valid",
        "exit_code": EXIT_CODES[verdict],
        "history": str(history_path),
        "workload": name,
        "checks": [check.to_dict() for check in checks],
        "rechecked": True,
    }
    if make_report:
        document["report"] = str(build_report(directory, document, history_path))
    try:
        document["exports"] = [str(p) for p in write_exports(directory, events, exports)]
    except ValueError as error:
        raise UsageError(str(error)) from error
    return EXIT_CODES[verdict], document


@app.command()
def check(
    ctx: typer.Context,
    history: Annotated[
        Path, typer.Argument(help="A history.jsonl, or the directory of a chaos run.")
    ],
    workload: Annotated[
        str | None,
        typer.Option(help="register, bank or set (default: from results.json or the history)."),
    ] = None,
    report: Annotated[
        bool, typer.Option("--report", help="Write report.html beside the history.")
    ] = False,
    export: ExportOption = None,
    bank_total: Annotated[
        int | None, typer.Option(help="The bank's total (default: from results.json, or 500).")
    ] = None,
    directory: DirOption = None,
    json_mode: JsonOption = False,
    timeout_s: UnusedTimeoutOption = None,
) -> None:
    """Check a saved history again: exit 0 valid, 1 invalid, 5 unknown.

    Example: raftctl check chaos-runs/RUN --report --export edn
    """
    output = Output()
    with reported(output):
        output.output_format = settings(ctx, directory, json_mode, None).output_format
    del directory, timeout_s  # a history needs no cluster and no deadline
    if workload is not None and workload not in ("register", "bank", "set"):
        raise typer.BadParameter("use register, bank or set", param_hint="--workload")
    formats = check_exports(export)
    try:
        code, document = recheck(history, workload, bank_total, report, formats)
    except UsageError as error:
        output.error(error)
        raise typer.Exit(error.exit_code) from None
    lines = [f"{document['verdict'].upper()}: {document['workload']} history {history}"]
    lines += check_lines(document["checks"])
    if "report" in document:
        lines.append(f"  report: {document['report']}")
    lines += [f"  export: {path}" for path in document.get("exports", [])]
    output.document(document, "\n".join(lines))
    raise typer.Exit(code)
