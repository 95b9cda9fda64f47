"""Printing a check report: text (like ``lhci assert``), JSON, Markdown for a pull-request
comment, and JUnit XML for CI test views. Works on the JSON form of a report."""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

FORMATS = ("text", "json", "markdown", "junit")
_ICONS = {"pass": "✅", "warn": "⚠️", "fail": "❌"}

Report = dict[str, Any]


def render(report: Report, fmt: str) -> str:
    """The report in one of ``FORMATS``."""
    if fmt == "json":
        return json.dumps(report, indent=2)
    if fmt == "markdown":
        return markdown(report)
    if fmt == "junit":
        return junit(report)
    return text(report)


def _number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.4g}"
    return str(int(value)) if isinstance(value, float) else str(value)


def _label(result: dict[str, Any]) -> str:
    prop = f".{result['audit_property']}" if result.get("audit_property") else ""
    return f"{result['audit_id']}{prop} {result['name']}"


def _broken(report: Report) -> list[dict[str, Any]]:
    broken = [r for r in report["results"] if not r["passed"]]
    return sorted(broken, key=lambda r: (r["level"] != "error", r["url"], _label(r)))


def text(report: Report) -> str:
    """Plain text: the verdict, then every broken assertion and regression."""
    lines = [f"Budget check: {report['verdict'].upper()}"]
    results = report["results"]
    lines.append(
        f"{len(results)} assertion(s) on {len(report.get('urls') or [])} URL(s), "
        f"{report.get('runs', 0)} run(s); {len(_broken(report))} not met"
    )
    for result in _broken(report):
        kind = "failure" if result["level"] == "error" else "warning"
        lines.append(f"  {kind}: {result['url']} {_label(result)}")
        lines.append(
            f"      expected: {result['operator']}{_number(result['expected'])}  "
            f"found: {_number(result['actual'])}  "
            f"all values: {', '.join(_number(v) for v in result['values'])}"
        )
        if result.get("message"):
            lines.append(f"      {result['message']}")
    for regression in report.get("regressions") or []:
        lines.append(f"  regression: {regression['url']} {regression['measure']}")
        lines.append(
            f"      baseline: {_number(regression['baseline'])}  "
            f"now: {_number(regression['actual'])}  "
            f"change: {_number(regression['change'])}  p={regression['p_value']:.3g}"
        )
    for row in _disagreements(report):
        lines.append(f"  lab vs field: {row['route']} {row['metric']}: {row['disagreement']}")
        lines.append(f"      {_lab_and_field(row)}")
    baseline = report.get("baseline")
    if baseline:
        lines.append(f"Baseline: {baseline['hash'][:12]} on {baseline['branch']}")
    return "\n".join(lines)


def _disagreements(report: Report) -> list[dict[str, Any]]:
    return [row for row in report.get("lab_vs_field") or [] if row.get("disagreement")]


def _lab_and_field(row: dict[str, Any]) -> str:
    lab = "TBT" if row["audit"] == "total-blocking-time" else row["metric"]
    return (
        f"lab {lab} {_number(row['lab_value'])} (limit {_number(row['lab_limit'])}), "
        f"field p75 {_number(row['field_p75'])} (limit {_number(row['field_limit'])}, "
        f"{row['field_samples']} samples)"
    )


def markdown(report: Report) -> str:
    """Markdown fit for a pull-request comment."""
    verdict = report["verdict"]
    lines = [f"### {_ICONS[verdict]} Performance budgets: **{verdict}**", ""]
    broken = _broken(report)
    lines.append(f"{len(report['results'])} assertions checked, {len(broken)} not met.")
    if broken:
        lines += [
            "",
            "| level | URL | assertion | expected | actual |",
            "| --- | --- | --- | --- | --- |",
        ]
        for r in broken:
            lines.append(
                f"| {r['level']} | {r['url']} | `{_label(r)}` | "
                f"{r['operator']} {_number(r['expected'])} | {_number(r['actual'])} |"
            )
    regressions = report.get("regressions") or []
    if regressions:
        lines += ["", "**Regressions** (beyond run-to-run noise):", ""]
        lines += ["| URL | measure | baseline | now | change |", "| --- | --- | --- | --- | --- |"]
        for g in regressions:
            relative = g.get("relative_change")
            share = f" ({relative:+.0%})" if relative is not None else ""
            lines.append(
                f"| {g['url']} | `{g['measure']}` | {_number(g['baseline'])} | "
                f"{_number(g['actual'])} | {_number(g['change'])}{share} |"
            )
    disagreements = _disagreements(report)
    if disagreements:
        lines += ["", "**Lab and field disagree** (field: real users' p75, last 7 days):", ""]
        lines += ["| route | metric | verdict | values |", "| --- | --- | --- | --- |"]
        for row in disagreements:
            lines.append(
                f"| {row['route']} | {row['metric']} | {row['disagreement']} | "
                f"{_lab_and_field(row)} |"
            )
    baseline = report.get("baseline")
    if baseline:
        lines += ["", f"Compared with `{baseline['hash'][:12]}` on `{baseline['branch']}`."]
    return "\n".join(lines)


def junit(report: Report) -> str:
    """JUnit XML: one test case per assertion and per regression; warnings do not fail."""
    suite = ET.Element("testsuite", name="perfbeacon budgets")
    failures = 0
    for result in report["results"]:
        case = ET.SubElement(suite, "testcase", classname=result["url"], name=_label(result))
        expected = f"{result['operator']}{_number(result['expected'])}"
        detail = f"expected {expected}, found {_number(result['actual'])}"
        if result["passed"]:
            continue
        if result["level"] == "error":
            failures += 1
            ET.SubElement(case, "failure", message=detail, type="budget").text = (
                result.get("message") or detail
            )
        else:
            ET.SubElement(case, "system-out").text = f"warning: {detail}"
    for regression in report.get("regressions") or []:
        failures += 1
        case = ET.SubElement(
            suite,
            "testcase",
            classname=regression["url"],
            name=f"regression {regression['measure']}",
        )
        message = (
            f"{regression['measure']} went from {_number(regression['baseline'])} "
            f"to {_number(regression['actual'])}"
        )
        ET.SubElement(case, "failure", message=message, type="regression")
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)
