"""``report.html``: one self-contained page per run, charts drawn as inline SVG.

Opening it needs no network: no CDN, no web fonts, no external script. The only script
is inline; it filters the case table and records any script error in the page, so a
headless browser can check that the page rendered cleanly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from llmops.reports import svg
from llmops.reports.cases import detail_text, judges_of

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.reports import Report
    from llmops.reports.history import PromptHistory

MAX_CASE_ROWS = 1000
MAX_SCATTER_POINTS = 3000
_OUTPUT_CHARS = 300

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#212121;
padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #e0e0e0}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #e0e0e0;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#fafafa}.num{text-align:right;font-variant-numeric:tabular-nums}
.improved{color:#2e7d32;font-weight:600}.regressed{color:#c62828;font-weight:600}
.inconclusive{color:#616161}.pass{color:#2e7d32}.fail{color:#c62828}
.charts{display:flex;flex-wrap:wrap;gap:16px}.out{white-space:pre-wrap;max-width:420px}
.meta{color:#616161}#js-errors{color:#c62828}
"""

_SCRIPT = """
(function(){
  var box=document.getElementById('js-errors');
  window.addEventListener('error',function(e){box.textContent+=String(e.message)+'\\n';});
  var input=document.getElementById('case-filter');
  if(input){input.addEventListener('input',function(){
    var q=input.value.toLowerCase();
    document.querySelectorAll('#cases tbody tr').forEach(function(tr){
      tr.style.display=tr.textContent.toLowerCase().indexOf(q)>=0?'':'none';});
  });}
  document.body.setAttribute('data-ready','1');
})();
"""


def eval_html(
    result: Mapping[str, Any] | Any,
    *,
    history: PromptHistory | None = None,
    project: Project | None = None,
) -> str:
    """The HTML report of one run.

    Args:
        result: the run's result (an ``EvalResult`` or its ``--json`` dict).
        history: the prompt's score history to chart; loaded from ``project``'s store
            when not given and ``project`` is.
        project: the project, to read the history from its store.
    """
    data = _as_dict(result)
    variants = data.get("variants") or []
    if history is None and project is not None and variants:
        from llmops.reports.history import history as load_history

        history = load_history(project, variants[0]["prompt"], suite=data.get("suite"))
    title = f"llmops eval {data.get('suite', '')} — run {data.get('run_id', '')}"
    body = [
        f"<h1>{escape(title)}</h1>",
        _meta(data),
        _variants_table(variants),
        _comparisons_table(data.get("comparisons") or [], judges_of(variants)),
        _distribution_charts(variants),
        _scatter_charts(data),
        _history_section(history) if history is not None else "",
        _cases_table(variants),
    ]
    return _page(title, body)


def history_html(history: PromptHistory) -> str:
    """A page with only a prompt's score history (``llmops runs history NAME --html``)."""
    title = f"llmops history of {history.name}"
    return _page(title, [f"<h1>{escape(title)}</h1>", _history_section(history)])


def _page(title: str, body: Sequence[str]) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>\n"
        + "\n".join(part for part in body if part)
        + "\n<pre id=\"js-errors\"></pre>\n"
        f"<script>{_SCRIPT}</script>\n</body></html>\n"
    )


# --- sections ------------------------------------------------------------------------


def _meta(data: Mapping[str, Any]) -> str:
    gate = data.get("gate") or {}
    passed = gate.get("passed", True)
    verdict = '<span class="pass">gate passed</span>' if passed else \
        '<span class="fail">gate failed</span>'
    ev = data.get("evalset") or {}
    bits = [verdict, f"status {escape(str(data.get('status', '')))}",
            f"eval set {escape(str(ev.get('path', '')))} ({ev.get('n_cases', '?')} cases)"]
    if data.get("git_commit"):
        bits.append(f"commit {escape(str(data['git_commit'])[:10])}")
    if data.get("started_at"):
        bits.append(f"started {escape(str(data['started_at']))}")
    out = f'<p class="meta">{" · ".join(bits)}</p>'
    items = [*gate.get("reasons", []), *gate.get("flags", [])]
    if items:
        out += "<ul>" + "".join(f"<li>{escape(str(r))}</li>" for r in items) + "</ul>"
    return out


def _variants_table(variants: Sequence[Mapping[str, Any]]) -> str:
    if not variants:
        return "<p>No variants.</p>"
    scorers = _scorers(variants)
    head = ["variant", "role", "digest", "cases", "errors", "pass rate", *scorers]
    rows = []
    for v in variants:
        s = v.get("summary") or {}
        cells = [_ref(v), escape(str(v.get("role", ""))), escape(str(v.get("digest", ""))[:12]),
                 _td(s.get("n_cases")), _td(s.get("n_errors")), _td(s.get("pass_rate"))]
        for k in scorers:
            sc = (s.get("scores") or {}).get(k) or {}
            mean = sc.get("mean")
            ci = "" if sc.get("ci_low") is None else \
                f" [{sc['ci_low']:.3f}, {sc['ci_high']:.3f}]"
            cells.append(f'<td class="num">{"—" if mean is None else f"{mean:.3f}"}{ci}</td>')
        rows.append("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>"
                                     for c in cells) + "</tr>")
    return "<h2>Variants</h2>" + _table(head, rows)


def _comparisons_table(
    comparisons: Sequence[Mapping[str, Any]], judges: Mapping[str, list[str]]
) -> str:
    if not comparisons:
        return ""
    head = ["candidate", "baseline", "scorer", "delta", "95% CI", "verdict", "cases", "note"]
    rows = []
    for c in comparisons:
        ci = "—" if c.get("ci_low") is None else f"{c['ci_low']:+.3f} … {c['ci_high']:+.3f}"
        note = ""
        if c.get("verdict") == "inconclusive" and c.get("mde") is not None:
            note = f"detectable at this n: ≥ {c['mde']:.3f}"
        delta = c.get("delta")
        rows.append(
            f"<tr><td>{escape(str(c['candidate']))}</td><td>{escape(str(c['baseline']))}</td>"
            f"<td>{escape(str(c['scorer']))}{_judged_by(judges.get(str(c['scorer'])))}</td>"
            f'<td class="num">{"—" if delta is None else f"{delta:+.3f}"}</td>'
            f'<td class="num">{ci}</td>'
            f'<td class="{escape(str(c["verdict"]))}">{escape(str(c["verdict"]))}</td>'
            f'<td class="num">{c.get("n_shared", "")}</td><td>{escape(note)}</td></tr>')
    return "<h2>Comparison with the baseline</h2>" + _table(head, rows)


def _judged_by(names: list[str] | None) -> str:
    """The judge's model beside a judged scorer's verdict."""
    if not names:
        return ""
    return f' <small class="detail">(judge: {escape(", ".join(names))})</small>'


def _distribution_charts(variants: Sequence[Mapping[str, Any]]) -> str:
    charts = []
    for scorer in _scorers(variants):
        series = {_label(v): list(case_values(v, scorer).values()) for v in variants}
        charts.append(svg.histogram(series, title=f"{scorer}: score distribution"))
    if not charts:
        return ""
    return '<h2>Score distributions</h2><div class="charts">' + "".join(charts) + "</div>"


def _scatter_charts(data: Mapping[str, Any]) -> str:
    from llmops.reports.comparison import find_by_label, variants_by_label

    by_label = variants_by_label(data.get("variants") or [])
    charts = []
    for c in data.get("comparisons") or []:
        cand = find_by_label(by_label, str(c["candidate"]))
        base = find_by_label(by_label, str(c["baseline"]))
        if cand is None or base is None:
            continue
        after, before = case_values(cand, c["scorer"]), case_values(base, c["scorer"])
        points = [(k, before[k], after[k] - before[k]) for k in sorted(after) if k in before]
        points.sort(key=lambda p: -abs(p[2]))
        charts.append(svg.delta_scatter(
            points[:MAX_SCATTER_POINTS],
            title=f"{c['scorer']}: {c['candidate']} − {c['baseline']} per case"))
    if not charts:
        return ""
    return '<h2>Per-case change</h2><div class="charts">' + "".join(charts) + "</div>"


def _history_section(history: PromptHistory) -> str:
    if not history.points:
        return f"<h2>History of {escape(history.name)}</h2><p>No stored runs yet.</p>"
    runs = history.runs
    index = {run: i for i, run in enumerate(runs)}
    labels = [run[-6:] for run in runs]
    charts = []
    for scorer in history.scorers:
        series: dict[str, list[tuple[int, float, str]]] = {}
        for p in history.points:
            if p.scorer == scorer and p.mean is not None:
                series.setdefault(p.version, []).append(
                    (index[p.run_id], p.mean, f"run {p.run_id} ({p.started_at[:16]}), n={p.n}"))
        charts.append(svg.line_chart(series, title=f"{scorer}: mean per run", x_labels=labels))
    return (f"<h2>History of {escape(history.name)}</h2>"
            f'<p class="meta">{len(runs)} runs, oldest first</p>'
            '<div class="charts">' + "".join(charts) + "</div>")


def _cases_table(variants: Sequence[Mapping[str, Any]]) -> str:
    if not variants:
        return ""
    scorers = _scorers(variants)
    per_variant = [{c["id"]: c for c in v.get("cases") or [] if not c.get("repeat")}
                   for v in variants]
    ids = list(dict.fromkeys(i for cases in per_variant for i in cases))
    head = ["case", "input", "expected"] + [f"{_label(v)}" for v in variants]
    rows = []
    for case_id in ids[:MAX_CASE_ROWS]:
        cells = [f"<td>{escape(str(case_id))}</td>", *_case_inputs(per_variant, case_id)]
        for cases in per_variant:
            case = cases.get(case_id)
            cells.append(f"<td>{_case_cell(case, scorers)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    more = "" if len(ids) <= MAX_CASE_ROWS else \
        f"<p>{len(ids) - MAX_CASE_ROWS} more cases are in results.json.</p>"
    return ("<h2>Cases</h2>"
            '<p><input id="case-filter" type="search" placeholder="filter cases"></p>'
            + _table(head, rows, table_id="cases") + more)


def _case_inputs(per_variant: Sequence[Mapping[str, Any]], case_id: str) -> list[str]:
    """The case's input variables and expected answer (masked), as two cells."""
    case: Mapping[str, Any] = next((c[case_id] for c in per_variant if case_id in c), {})
    variables = case.get("vars") or {}
    inputs = "<br>".join(f"<b>{escape(str(k))}</b>: {escape(str(v))}"
                         for k, v in variables.items())
    expected = case.get("expected")
    if isinstance(expected, list):
        expected = " / ".join(map(str, expected))
    return [f"<td>{inputs}</td>", f"<td>{escape(str(expected or ''))}</td>"]


def _case_cell(case: Mapping[str, Any] | None, scorers: Sequence[str]) -> str:
    if case is None:
        return "—"
    if case.get("error"):
        return f'<span class="fail">error: {escape(str(case["error"]))}</span>'
    marks = []
    for k in scorers:
        s = (case.get("scores") or {}).get(k)
        if s is None:
            continue
        value = s.get("value")
        cls = "pass" if s.get("passed") else "fail"
        detail = s.get("error") or detail_text(s.get("details"))
        marks.append(f'<span class="{cls}">{escape(k)} '
                     f'{"—" if value is None else f"{value:.2f}"}</span>'
                     + (f' <small class="detail">({escape(str(detail))})</small>'
                        if detail else ""))
    text = str(case.get("output") or "")
    if len(text) > _OUTPUT_CHARS:
        text = text[:_OUTPUT_CHARS] + "…"
    return " · ".join(marks) + f'<div class="out">{escape(text)}</div>'


# --- helpers -------------------------------------------------------------------------


def case_values(variant: Mapping[str, Any], scorer: str) -> dict[str, float]:
    """Case id → mean value over repeats for one scorer (errored cases left out)."""
    sums: dict[str, list[float]] = {}
    for case in variant.get("cases") or []:
        value = ((case.get("scores") or {}).get(scorer) or {}).get("value")
        if value is not None and not case.get("error"):
            sums.setdefault(case["id"], []).append(float(value))
    return {k: sum(vs) / len(vs) for k, vs in sums.items()}


def _scorers(variants: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: dict[str, None] = {}
    for v in variants:
        for k in ((v.get("summary") or {}).get("scores") or {}):
            seen[k] = None
        for case in (v.get("cases") or [])[:50]:
            for k in case.get("scores") or {}:
                seen[k] = None
    return list(seen)


def _table(head: Sequence[str], rows: Sequence[str], table_id: str | None = None) -> str:
    ident = f' id="{table_id}"' if table_id else ""
    return (f"<table{ident}><thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head)
            + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def _td(value: Any) -> str:
    if value is None:
        return '<td class="num">—</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:.3f}</td>'
    return f'<td class="num">{escape(str(value))}</td>'


def _label(v: Mapping[str, Any]) -> str:
    from llmops.reports.comparison import variant_label

    return variant_label(v)


def _ref(v: Mapping[str, Any]) -> str:
    return escape(_label(v))


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    to_json = getattr(value, "to_json", None) or getattr(value, "model_dump", None)
    if to_json is None:
        raise TypeError(f"cannot read a result from {type(value).__name__}")
    out = to_json()
    return dict(out)


def render(report: Report) -> str:
    """The report format's entry: the self-contained page of one run."""
    return eval_html(report.result, project=report.project)
