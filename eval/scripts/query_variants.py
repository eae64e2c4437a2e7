"""Query-side variants for long consumer messages, scored offline (doc-level nDCG@10, kbqa.evaluate.metrics).

For each question: the whole message ("full") or its subject line + asking sentences ("focus",
kbqa.read.question.asking_sentences) or the mean of both query vectors ("mean") as the dense query,
the whole message or the focus as the BM25 query, fused by normalised scores at BM25 weights 1 to 0.2
(and reciprocal-rank fusion at the same weights) or a weight falling with query length (1 up to 12 or 20 words, then 12/n or 20/n). Rankings go 100
deep, as `kbqa eval` ranks; the figures quoted in eval/reports/retrieval/README.md come from

    python eval/scripts/query_variants.py indexes/liveqa-train-tuned eval/benchmarks/liveqa-train
"""
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kbqa.pipeline import KnowledgeBase
from kbqa.evaluate.benchmark import load_questions, load_qrels, load_corpus_ids
from kbqa.evaluate.metrics import retrieval_per_query, mean_metrics
from kbqa.evaluate.retrieval import best_per_doc
from kbqa.retrieve import fuse_scores, fuse_rrf, lexical_search
from kbqa.read.question import asking_sentences, request_sentences  # noqa: E402

def focus(text):
    lines = text.split("\n")
    subject = lines[0] if len(lines) > 1 else ""
    body = "\n".join(lines[1:]) if len(lines) > 1 else text
    asks = asking_sentences(body)
    if not asks:
        asks = request_sentences(body)[:1] if not subject else []
    out = " ".join([subject] + asks).strip()
    return out or text

def run(index, bench):
    kb = KnowledgeBase.load(index)
    qs = load_questions(f"{bench}/questions.jsonl")
    qrels = load_qrels(f"{bench}/qrels.tsv", question_ids=[q.qid for q in qs], doc_ids=load_corpus_ids(f"{bench}/corpus.jsonl"))
    texts = [q.question for q in qs]
    foc = [focus(t) for t in texts]
    enc = kb.encoder
    vf = enc.encode_queries(texts); vq = enc.encode_queries(foc)
    vm = vf + vq; vm /= np.linalg.norm(vm, axis=1, keepdims=True)
    D = 100
    dense = {"full": kb.index.search(vf, D, None), "focus": kb.index.search(vq, D, None), "mean": kb.index.search(vm, D, None)}
    lex = {"full": lexical_search(kb.lexical, texts, D, None), "focus": lexical_search(kb.lexical, foc, D, None)}
    doc = lambda r: best_per_doc((kb.chunks[c].doc_id, s) for c, s in r)
    def score(rankings):
        run = {q.qid: doc(r) for q, r in zip(qs, rankings)}
        return round(mean_metrics(retrieval_per_query(qrels, run), ["nDCG@10"])["nDCG@10"], 4)
    out = {}
    for dn, dr in dense.items():
        out[f"dense:{dn}"] = score(dr)
    for ln, lr in lex.items():
        out[f"bm25:{ln}"] = score(lr)
    nwords = [len(t.split()) for t in texts]
    for dn in dense:
        for ln in lex:
            for w in (1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2):
                out[f"rrf:{dn}+{ln}@{w}"] = score([fuse_rrf((d, l), (1.0, w), 60.0) for d, l in zip(dense[dn], lex[ln])])
                out[f"score:{dn}+{ln}@{w}"] = score([fuse_scores((d, l), (1.0, w)) for d, l in zip(dense[dn], lex[ln])])
            # length-dependent lexical weight: 1 up to 12 words, then 12/n
            out[f"score:{dn}+{ln}@len12"] = score([fuse_scores((d, l), (1.0, min(1.0, 12 / n))) for d, l, n in zip(dense[dn], lex[ln], nwords)])
            out[f"score:{dn}+{ln}@len20"] = score([fuse_scores((d, l), (1.0, min(1.0, 20 / n))) for d, l, n in zip(dense[dn], lex[ln], nwords)])
    print(json.dumps({"index": index, "bench": bench, "median_words": float(np.median(nwords)), **out}), flush=True)

if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2])
