"""``kbqa treat CONDITION [--patient TEXT] [--medications DRUG ...] --index DIR [--json] [-k N]``."""

from __future__ import annotations

import argparse
from typing import Any

from kbqa.cli.common import dump, shorten
from kbqa.errors import KbqaError

K_DEFAULT = 10


def register(subparsers: argparse._SubParsersAction, train_subparsers: argparse._SubParsersAction) -> None:
    t = subparsers.add_parser(
        "treat",
        help="treatment options for a condition found in the knowledge base, with evidence (decision support)",
        description="List the medicines, procedures and therapies that the knowledge base's treatment passages "
        "about a condition name, ranked by their evidence, each with cited sentences. With --patient, sentences "
        "about an option that mention the patient's situation (pregnancy, kidney or liver disease, age group, "
        "allergy, ...) are attached as warnings; with --medications, each medicine option is checked against the "
        "current medications with the interaction check (kbqa interactions). Options found in the literature for "
        "a professional to weigh, not a prescription.",
    )
    t.add_argument("condition", help="the condition, e.g. \"rheumatoid arthritis\"")
    t.add_argument("--index", required=True, help="knowledge-base index folder")
    t.add_argument("--patient", default=None, help="free text about the patient, e.g. \"pregnant, 30 weeks, "
                   "allergic to penicillin\"")
    t.add_argument("--medications", nargs="+", default=[], metavar="DRUG",
                   help="the patient's current medications; names not known as medicines are reported as unknown")
    t.add_argument("-k", "--k", type=int, default=K_DEFAULT, help=f"options to list (default {K_DEFAULT})")
    t.add_argument("--ddi-model", default=None, help="DDI model folder for --medications (default models/ddi)")
    t.add_argument("--synonyms", default=None, help="brand -> generic names for --medications (TSV/CSV or JSON)")
    t.add_argument("--json", action="store_true", help="print JSON instead of text")
    t.add_argument("--deidentify", action="store_true",
                   help="replace names, dates, ids and contacts in --patient by typed placeholders before use "
                   "(kbqa.deid; docs/deidentification.md)")
    t.set_defaults(func=_treat)


def _treat(args: argparse.Namespace) -> int:
    from kbqa.treat.assistant import check_condition, check_medications, check_patient

    if args.k < 1:
        raise KbqaError(f"-k must be a positive integer, got {args.k}")
    check_condition(args.condition)  # before the (slow) index load
    check_patient(args.patient)
    check_medications(args.medications)
    from kbqa.pipeline import KnowledgeBase
    from kbqa.treat import treat

    patient = args.patient
    if args.deidentify and patient:
        from kbqa.deid import deidentify

        patient = deidentify(patient)
    kb = KnowledgeBase.load(args.index)
    result = treat(kb, args.condition, patient=patient, medications=args.medications, k=args.k,
                   ddi_model=args.ddi_model, synonyms=args.synonyms)
    if args.json:
        dump(result.to_dict())
    else:
        print(render(result))
    return 0


def render(result: Any, width: int = 100) -> str:
    """Condition, then each option with its best evidence and citations, warnings and interactions; the note."""
    from kbqa.ddi.interactions import STATUS_TEXT

    lines = [f"Treatment options for {result.condition}"
             + (f" (the knowledge base's '{result.matched_condition}')" if result.matched_condition
                and result.matched_condition.lower() != result.condition.lower() else "")]
    if result.patient:
        said = ", ".join(s["label"] for s in result.patient["situations"]) or "none recognised"
        lines.append(f"Patient situations: {said}")
    if result.medications or result.unknown_medications:
        lines.append(f"Current medications checked: {', '.join(result.medications) or 'none'}")
    if result.unknown_medications:
        lines.append(f"Unknown medication names (not checked): {', '.join(result.unknown_medications)}")
    lines.append("")
    if result.abstained:
        lines.append(f"No option found ({result.provenance.get('reason', 'insufficient evidence')}).")
    for i, o in enumerate(result.options, start=1):
        lines.append(f"{i:>2}. {o.name} [{o.kind}]  score {o.score:.2f}, {o.documents} document(s)")
        for e in o.evidence[:2]:
            d = e.to_dict()
            lines.append(f"      \"{shorten(d['sentence'], width - 8)}\"")
            lines.append(f"      {shorten(d['citation'], width - 6)}")
        for w in o.warnings:
            d = w.to_dict()
            if d["sentence"] is None:
                lines.append(f"    !! WARNING ({w.label}): {w.reason}")
                continue
            lines.append(f"    !! WARNING ({w.label}): \"{shorten(d['sentence'], width - 24)}\"")
            lines.append(f"       {shorten(d['citation'], width - 7)}")
        for p in o.interactions:
            verdict = STATUS_TEXT[p["status"]] + (f": {p['type']}" if p.get("type") else "")
            mark = "!! " if p["status"] == "interaction" else ""
            lines.append(f"    {mark}with {p['medication']}: {verdict}")
            for e in p["evidence"][:1]:
                lines.append(f"       \"{shorten(e['sentence'], width - 9)}\"")
                lines.append(f"       {shorten(e['citation'], width - 7)}")
    lines.append("")
    lines.append("score: the option's evidence, summed over the distinct documents naming it (section weight x "
                 "retrieval score); not a measure of efficacy.")
    lines.append(result.provenance.get("note", ""))
    return "\n".join(lines)
