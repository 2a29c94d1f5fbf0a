"""Rendering diagnostics as compiler-style text, JSON, or SARIF 2.1.0."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from crio_py import __version__
from crio_py.config.diagnostics import CODES, Diagnostic, Severity

_SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render(diagnostics: Sequence[Diagnostic], output: str) -> str:
    """Render in one of text, json, sarif."""
    if output == "json":
        return render_json(diagnostics)
    if output == "sarif":
        return render_sarif(diagnostics)
    return render_text(diagnostics)


def render_text(diagnostics: Sequence[Diagnostic]) -> str:
    """`path:line:col: error[code] message`, with the hint on the next line."""
    lines = []
    for d in diagnostics:
        lines.append(f"{d.file}:{d.line}:{d.column}: {d.severity}[{d.code}] {d.message}")
        if d.hint:
            lines.append(f"  hint: {d.hint}")
    counts = {s: sum(1 for d in diagnostics if d.severity is s) for s in Severity}
    lines.append(
        f"{counts[Severity.ERROR]} errors, {counts[Severity.WARNING]} warnings, "
        f"{counts[Severity.INFO]} notes"
    )
    return "\n".join(lines) + "\n"


def as_dict(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as the JSON object `config lint --format json` prints."""
    return {
        "code": d.code,
        "severity": str(d.severity),
        "file": d.file,
        "line": d.line,
        "column": d.column,
        "key": d.key,
        "message": d.message,
        "hint": d.hint,
    }


def render_json(diagnostics: Sequence[Diagnostic]) -> str:
    """{"diagnostics": [...], "summary": {...}}."""
    summary = {str(s): sum(1 for d in diagnostics if d.severity is s) for s in Severity}
    document = {"diagnostics": [as_dict(d) for d in diagnostics], "summary": summary}
    return json.dumps(document, indent=2) + "\n"


def render_sarif(diagnostics: Sequence[Diagnostic]) -> str:
    """A SARIF 2.1.0 log with one run, one rule per registered code."""
    rule_ids = sorted(CODES)
    rules = [
        {
            "id": name,
            "shortDescription": {"text": CODES[name].summary},
            "defaultConfiguration": {"level": _SARIF_LEVEL[CODES[name].severity]},
        }
        for name in rule_ids
    ]
    results = [_sarif_result(d, rule_ids.index(d.code)) for d in diagnostics]
    log = {
        "$schema": _SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "crio-py config lint",
                        "version": __version__,
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2) + "\n"


def _sarif_result(d: Diagnostic, rule_index: int) -> dict[str, Any]:
    text = f"{d.message} (hint: {d.hint})" if d.hint else d.message
    return {
        "ruleId": d.code,
        "ruleIndex": rule_index,
        "level": _SARIF_LEVEL[d.severity],
        "message": {"text": text},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": d.file},
                    "region": {"startLine": d.line, "startColumn": d.column},
                },
                "logicalLocations": [{"fullyQualifiedName": d.key}] if d.key else [],
            }
        ],
    }
