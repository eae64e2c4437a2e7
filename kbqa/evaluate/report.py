"""Writing an evaluation (report.json, per_query.jsonl, report.md, PNGs) and comparing two of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kbqa.errors import KbqaError
from kbqa.evaluate import metrics as M
from kbqa.evaluate.run import EvalResult
from kbqa.jsonlines import read_jsonl, write_jsonl

PER_QUERY = "per_query.jsonl"


def write_report(result: EvalResult, out_dir: str | Path) -> Path:
    """Write report.json, per_query.jsonl, the plots and report.md into ``out_dir``; returns report.json."""
    from kbqa.evaluate.plots import write_plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = dict(result.report)
    report["plots"] = write_plots(report, result.per_query, out)
    write_jsonl(out / PER_QUERY, result.per_query, ensure_ascii=False)
    path = out / "report.json"
    path.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    return path


def _f(x: Any) -> str:
    return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def render_markdown(report: dict[str, Any]) -> str:
    """A human summary of a report: headline tables, baselines, latency, plots."""
    ci = report.get("ci95", {})
    lines = [
        f"# kbqa evaluation ({report.get('created', '')})",
        "",
        f"Index `{report['index']['dir']}` (fingerprint `{report['index']['fingerprint']}`, "
        f"{report['index']['chunks']} chunks, {report['index']['documents']} documents); "
        f"{report['n_questions']} questions, k = {report['k']}. Machine: {report['machine']['platform']}, "
        f"{report['machine']['cpus']} CPUs. kbqa {report['kbqa_version']}.",
        "",
    ]
    if "retrieval" in report:
        systems = {"system": report["retrieval"]}
        systems.update({n: b["retrieval"] for n, b in report["baselines"].items() if "retrieval" in b})
        lines += [
            f"## Retrieval (document level, {report['retrieval']['n_questions']} judged questions)",
            "",
            "| system | " + " | ".join(M.RETRIEVAL_MEASURES) + " |",
            "|---|" + "---|" * len(M.RETRIEVAL_MEASURES),
        ]
        for name, vals in systems.items():
            cells = []
            for m in M.RETRIEVAL_MEASURES:
                cell = _f(vals[m])
                if name == "system" and m in ci:
                    cell += f" [{ci[m][0]:.3f}, {ci[m][1]:.3f}]"
                cells.append(cell)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines += ["", "95% bootstrap intervals in brackets.", ""]
    if "answers" in report:
        a = report["answers"]
        lines += [
            f"## Answers ({a['n_questions']} questions with a label answer)",
            "",
            "| system | accuracy | macro F1 | coverage | selective accuracy | ECE |",
            "|---|---|---|---|---|---|",
            f"| reader | {_f(a['accuracy'])} [{ci['accuracy'][0]:.3f}, {ci['accuracy'][1]:.3f}] | "
            f"{_f(a['macro_f1'])} [{ci['macro_f1'][0]:.3f}, {ci['macro_f1'][1]:.3f}] | {_f(a['coverage'])} | "
            f"{_f(a['selective_accuracy'])} | {_f(a['ece'])} |",
        ]
        if "majority" in report["baselines"]:
            b = report["baselines"]["majority"]["answers"]
            lines.append(f"| majority ({report['baselines']['majority']['label']}) | {_f(b['accuracy'])} | "
                         f"{_f(b['macro_f1'])} | {_f(b['coverage'])} | {_f(b['selective_accuracy'])} | {_f(b['ece'])} |")
        lines += ["", "| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        for lab, v in a["per_class"].items():
            lines.append(f"| {lab} | {_f(v['precision'])} | {_f(v['recall'])} | {_f(v['f1'])} | {v['support']} |")
        lines.append("")
    lat = report.get("latency_ms", {})
    lines += [
        "## Latency (ms, single queries)",
        "",
        f"search p50 {_f(lat.get('search_p50'))}, p95 {_f(lat.get('search_p95'))} (n = {lat.get('search_n', 0)}); "
        f"ask p50 {_f(lat.get('ask_p50'))}, p95 {_f(lat.get('ask_p95'))} (n = {lat.get('ask_n', 0)}). "
        f"Wall time per stage (s): {json.dumps(report.get('timing_s', {}))}.",
        "",
    ]
    plots = report.get("plots", {})
    if plots:
        lines += ["## Plots", ""] + [f"![{name}]({file})" for name, file in plots.items()] + [""]
    return "\n".join(lines)


def load_run(report_path: str | Path) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A report and its per-query records (``per_query.jsonl`` next to it), keyed by question id."""
    p = Path(report_path)
    if p.is_dir():
        p = p / "report.json"
    if not p.is_file():
        raise KbqaError(f"report not found: {p}")
    report = json.loads(p.read_text(encoding="utf-8"))
    pq = p.with_name(PER_QUERY)
    if not pq.is_file():
        raise KbqaError(f"{pq} not found: compare needs the per-query values written next to report.json")
    rows = {row["qid"]: row for row in read_jsonl(pq)}
    return report, rows


def _values(rows: dict[str, dict[str, Any]], metric: str) -> dict[str, float]:
    if metric == "accuracy":
        return {q: float(r["answer"]["correct"]) for q, r in rows.items() if "answer" in r}
    return {q: r["retrieval"][metric] for q, r in rows.items() if "retrieval" in r}


def compare(a_path: str | Path, b_path: str | Path) -> list[dict[str, Any]]:
    """Per metric: A, B, B - A and a paired-bootstrap p-value over the questions both runs scored."""
    _, rows_a = load_run(a_path)
    _, rows_b = load_run(b_path)
    out = []
    for metric in (*M.RETRIEVAL_MEASURES, "accuracy"):
        va, vb = _values(rows_a, metric), _values(rows_b, metric)
        common = sorted(set(va) & set(vb))
        if not common:
            continue
        xa, xb = [va[q] for q in common], [vb[q] for q in common]
        mean_a, mean_b = sum(xa) / len(xa), sum(xb) / len(xb)
        out.append({"metric": metric, "n": len(common), "a": mean_a, "b": mean_b, "delta": mean_b - mean_a,
                    "p_value": M.paired_bootstrap_p(xb, xa)})
    if not out:
        raise KbqaError("the two runs share no scored question; were they run on the same questions?")
    return out


def format_comparison(rows: list[dict[str, Any]], a_name: str, b_name: str) -> str:
    """A plain-text side-by-side table of :func:`compare`'s rows."""
    head = f"{'metric':<10} {'n':>5} {'A':>8} {'B':>8} {'B-A':>8} {'p':>7}"
    lines = [f"A = {a_name}", f"B = {b_name}", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['metric']:<10} {r['n']:>5} {r['a']:>8.4f} {r['b']:>8.4f} {r['delta']:>+8.4f} {r['p_value']:>7.4f}")
    lines.append("p: two-sided paired bootstrap (10,000 resamples) over the questions both runs scored")
    return "\n".join(lines)
