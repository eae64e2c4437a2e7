"""kbqa.diagnose: grouping and scoring on synthetic hits, diagnose() on a tiny lexical index, the classifier
mix with a fake classifier, the CLI end to end (single, --json, batch, eval) and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from kbqa.diagnose import diagnose
from kbqa.diagnose.benchmark import gold_rank, summarise
from kbqa.diagnose.conditions import ConditionTable, condition_of, word_match
from kbqa.diagnose.differential import DEFAULT, PLAIN, ScoringParams, confidences, group_hits
from kbqa.errors import KbqaError
from kbqa.types import Hit
from conftest import tiny_config, tiny_config_toml

DATA = Path(__file__).parent / "data" / "diagnose"
DESCRIPTION = "itchy scaly silvery patches on my elbows and knees, pits in my nails"


def hit(doc: str, score: float, condition: str | None, qtype: str = "symptoms", collection: str = "X",
        chunk: int = 0, text: str = "") -> Hit:
    meta = {"qtype": qtype, "collection": collection, **({"condition": condition} if condition else {})}
    return Hit(chunk_id=f"{doc}#{chunk}", doc_id=doc, score=score, text=text or doc, meta=meta)


def key(h: Hit) -> str | None:
    name = condition_of(h.meta)
    return name.lower() if name else None


# ---- grouping and scoring on synthetic hits ------------------------------------------------------
def test_diminishing_returns_let_several_pages_beat_one_strong_hit() -> None:
    hits = [hit("rare", 1.0, "Rare"), hit("c1", 0.8, "Common"), hit("c2", 0.7, "Common"), hit("c3", 0.6, "Common")]
    params = ScoringParams(decay=0.5, rare_weight=1.0)
    groups = group_hits(hits, key, params)
    assert [g.key for g in groups] == ["common", "rare"]
    assert groups[0].score == pytest.approx(0.8 + 0.5 * 0.7 + 0.25 * 0.6)
    # a pile of weak hits does not beat one strong one
    weak = [hit("rare", 1.0, "Rare")] + [hit(f"w{i}", 0.15, "Weak") for i in range(20)]
    assert group_hits(weak, key, params)[0].key == "rare"
    # PLAIN: a condition ranks where its best hit ranks (whole-document ranking)
    assert [g.key for g in group_hits(hits, key, PLAIN)] == ["rare", "common"]


def test_document_counted_once_sections_and_rare_collections_weighted() -> None:
    hits = [hit("a", 1.0, "A", chunk=0), hit("a", 0.9, "A", chunk=1), hit("b", 0.9, "B")]
    groups = {g.key: g for g in group_hits(hits, key, ScoringParams(decay=1.0))}
    assert groups["a"].score == pytest.approx(1.0) and [h.chunk_id for h, _ in groups["a"].hits] == ["a#0"]
    treatment = [hit("t", 1.0, "T", qtype="treatment"), hit("s", 0.6, "S", qtype="symptoms")]
    assert [g.key for g in group_hits(treatment, key, ScoringParams(section_weight=0.5))] == ["s", "t"]
    rare = [hit("g", 1.0, "G", collection="GARD"), hit("m", 0.7, "M", collection="MPlusHealthTopics")]
    assert [g.key for g in group_hits(rare, key, ScoringParams(rare_weight=0.6))] == ["m", "g"]
    assert [g.key for g in group_hits(rare, key, ScoringParams(rare_weight=1.0))] == ["g", "m"]


def test_umbrella_pages_and_symptom_echoes_can_be_down_weighted() -> None:
    hits = [hit("u", 1.0, "Cold and Cough Medicines"), hit("c", 0.7, "Common Cold"), hit("r", 0.9, "Rashes")]
    assert [g.key for g in group_hits(hits, key, ScoringParams(generic_weight=1.0))][:2] == [
        "cold and cough medicines", "rashes"]
    assert [g.key for g in group_hits(hits, key, ScoringParams(generic_weight=0.5))] == [
        "rashes", "common cold", "cold and cough medicines"]
    echo = ScoringParams(generic_weight=0.5, echo_weight=0.3)
    assert [g.key for g in group_hits(hits, key, echo, query_terms={"rash", "red"})][0] == "common cold"


def test_hits_without_condition_are_ignored_and_ties_keep_retrieval_order() -> None:
    hits = [hit("x", 1.0, None), hit("b", 0.5, "B"), hit("a", 0.5, "A")]
    assert [g.key for g in group_hits(hits, key, DEFAULT)] == ["b", "a"]
    assert group_hits([], key, DEFAULT) == []


def test_confidences_are_a_distribution_ordered_like_scores() -> None:
    c = confidences([2.0, 1.0, 0.5], 0.5)
    assert c.sum() == pytest.approx(1.0) and list(np.argsort(-c)) == [0, 1, 2]
    assert len(confidences([], 0.1)) == 0


def test_word_match_and_label_matching() -> None:
    assert word_match("flu", "Avian flu") and not word_match("flu", "Influenza")
    assert word_match("GERD", "gerd") and word_match("type 1 diabetes", "Type 1  Diabetes in children")
    table = ConditionTable.from_documents([("1", {"focus": "Diabetes"}), ("2", {"focus": "Diabetes insipidus"}),
                                           ("3", {"condition": "Asthma", "focus": "ignored"})])
    assert table.matching("diabetes") == ["diabetes", "diabetes insipidus"]
    assert table.names["asthma"] == "Asthma" and table.matching("flu") == []


def test_gold_rank_and_summary() -> None:
    from kbqa.diagnose.differential import Condition, Diagnosis

    d = Diagnosis("q", [Condition("Eczema", 1, 0.5, []), Condition("GERD", 1, 0.3, [])], [], False)
    assert gold_rank(d, ["Acid reflux", "gerd"]) == 2 and gold_rank(d, ["Psoriasis"]) is None
    s = summarise([1, 2, None, 7])
    assert s == {"top1": 0.25, "top5": 0.5, "top10": 0.75, "mrr": round((1 + 0.5 + 1 / 7) / 4, 4), "n_cases": 4}


# ---- diagnose() over a tiny index (BM25 side only: the tiny encoder is random) -----------------
@pytest.fixture(scope="module")
def kb(tiny_encoder_dir, tmp_path_factory):  # noqa: ANN001, ANN201
    from kbqa.pipeline import KnowledgeBase

    cfg = tiny_config(tiny_encoder_dir, small_chunks=False, search={"mode": "lexical"})
    return KnowledgeBase.build([DATA / "kb.jsonl"], tmp_path_factory.mktemp("dx") / "idx", cfg, progress=False)


def test_diagnose_ranks_conditions_with_highlighted_evidence(kb) -> None:  # noqa: ANN001
    d = diagnose(kb, DESCRIPTION, k=3)
    assert d.conditions[0].name == "Psoriasis" and not d.abstained and d.red_flags == []
    assert len(d.conditions) <= 3
    ev = d.conditions[0].evidence[0]
    a, b = ev.highlight
    assert ev.hit.doc_id == "pso-1" and "scaly patches" in ev.hit.text[a:b] and ev.sentence == ev.hit.text[a:b]
    out = d.to_dict()
    assert set(out) == {"query", "conditions", "red_flags", "abstained", "provenance"}
    c = out["conditions"][0]
    assert {"name", "score", "confidence", "evidence"} <= set(c)
    assert {"doc_id", "chunk_id", "text", "highlight", "citation", "metadata", "title"} <= set(c["evidence"][0])
    assert sum(x["confidence"] for x in out["conditions"]) <= 1.0 + 1e-6
    assert "not a diagnosis" in out["provenance"]["note"]
    json.dumps(out)


def test_diagnose_flags_emergencies_whatever_the_ranking(kb) -> None:  # noqa: ANN001
    d = diagnose(kb, "wheezing, chest tightness and shortness of breath, now my lips are turning blue", k=5)
    assert d.conditions[0].name == "Asthma"
    assert {f.rule for f in d.red_flags} >= {"chest_pain_breathless", "difficulty_breathing"}


def test_diagnose_abstains_without_evidence_and_refuses_bad_input(kb) -> None:  # noqa: ANN001
    d = diagnose(kb, "qwxz blorp vrrt", k=5)
    assert d.abstained and d.conditions == [] and "insufficient evidence" in d.provenance["reason"]
    for bad in ("", "   ", None):
        with pytest.raises(KbqaError, match="description is empty"):
            diagnose(kb, bad)
    with pytest.raises(KbqaError, match="k must be"):
        diagnose(kb, DESCRIPTION, k=0)


def test_excluded_documents_and_condition_field(kb) -> None:  # noqa: ANN001
    d = diagnose(kb, DESCRIPTION, k=10, exclude_docs={"pso-1", "pso-2", "pso-tx"})
    assert "Psoriasis" not in [c.name for c in d.conditions]
    assert all(e.hit.doc_id not in {"pso-1", "pso-2"} for c in d.conditions for e in c.evidence)
    with pytest.raises(KbqaError, match="names a condition"):
        diagnose(kb, DESCRIPTION, condition_field="nosuchfield")
    by_section = diagnose(kb, DESCRIPTION, condition_field="qtype")
    assert by_section.conditions[0].name in {"symptoms", "information", "treatment"}


class FakeClassifier:
    """The shape of kbqa.classify.model.TextClassifier: labels, text_columns, join(row), predict_proba(texts)."""

    text_columns = ["text"]

    def __init__(self, labels: list[str], probs: list[float]) -> None:
        self.labels, self.probs, self.seen = labels, probs, []

    def join(self, row: dict) -> str:
        return str(row["text"])

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        self.seen.extend(texts)
        return np.array([self.probs] * len(texts))


def test_classifier_probabilities_are_mixed_in(kb) -> None:  # noqa: ANN001
    plain = diagnose(kb, DESCRIPTION, k=10)
    clf = FakeClassifier(["migraine", "psoriasis", "diabetes"], [0.9, 0.05, 0.05])
    d = diagnose(kb, DESCRIPTION, k=10, classifier=clf)
    assert clf.seen == [" ".join(DESCRIPTION.split())]
    names = [c.name for c in d.conditions]
    assert "Migraine" not in [c.name for c in plain.conditions]
    assert set(names[:2]) == {"Psoriasis", "Migraine"}  # a label retrieval did not reach joins, with evidence
    mig, pso = (d.conditions[names.index(n)] for n in ("Migraine", "Psoriasis"))
    assert mig.classifier_probability == pytest.approx(0.9) and mig.evidence[0].hit.doc_id == "mig-1"
    assert mig.confidence == pytest.approx(0.5 * 0.9)
    assert pso.confidence == pytest.approx(0.5 * plain.conditions[0].confidence + 0.5 * 0.05, abs=1e-6)
    assert [c.confidence for c in d.conditions] == sorted((c.confidence for c in d.conditions), reverse=True)
    # conditions outside the label set still come from the knowledge base
    assert "Eczema" in names and d.conditions[names.index("Eczema")].classifier_probability is None
    assert d.provenance["classifier"]["labels_in_index"] == 2


def test_classifier_with_no_label_in_the_index_is_refused(kb) -> None:  # noqa: ANN001
    with pytest.raises(KbqaError, match="none of the classifier's 2 labels"):
        diagnose(kb, DESCRIPTION, classifier=FakeClassifier(["diabetes", "malaria"], [0.5, 0.5]))


# ---- the CLI end to end ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def index_dir(tiny_encoder_dir, tmp_path_factory):  # noqa: ANN001, ANN201
    from kbqa.cli import main

    tmp = tmp_path_factory.mktemp("dxcli")
    cfg = tmp / "kbqa.toml"
    cfg.write_text(tiny_config_toml(tiny_encoder_dir, '[search]\nmode = "lexical"\n'))
    assert main(["index", "build", str(DATA / "kb.jsonl"), "--index", str(tmp / "idx"), "--config", str(cfg),
                 "--quiet"]) == 0
    return tmp / "idx"


def test_cli_single_json_and_table(index_dir, capsys) -> None:  # noqa: ANN001
    from kbqa.cli import main

    assert main(["diagnose", "--index", str(index_dir), DESCRIPTION, "--json", "-k", "2"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["conditions"][0]["name"] == "Psoriasis" and len(out["conditions"]) <= 2
    assert out["abstained"] is False and out["red_flags"] == []
    assert main(["diagnose", "--index", str(index_dir), "chest pain spreading to my jaw after meals"]) == 0
    table = capsys.readouterr().out
    assert "RED FLAG: chest pain spreading" in table and "seek emergency care" in table
    assert "not a diagnosis" in table and " 1  " in table


def test_cli_batch_and_eval(index_dir, tmp_path, capsys) -> None:  # noqa: ANN001
    from kbqa.cli import main

    preds = tmp_path / "preds.jsonl"
    assert main(["diagnose", "--index", str(index_dir), "--input", str(DATA / "cases.jsonl"), "--out", str(preds)]) == 0
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["c1", "c2", "c3", "c4"]
    assert all(set(r) == {"id", "conditions", "red_flags", "abstained"} for r in rows)
    assert [r["conditions"][0]["name"] for r in rows] == ["Psoriasis", "Migraine", "Asthma", "GERD"]
    csv = tmp_path / "cases.csv"
    csv.write_text("case,symptoms\nx1,throbbing headache with nausea\n")
    assert main(["diagnose", "--index", str(index_dir), "--input", str(csv), "--text-column", "symptoms",
                 "--id-column", "case"]) == 0
    assert json.loads(capsys.readouterr().out)["id"] == "x1"
    out = tmp_path / "R"
    assert main(["eval", "diagnose", "--index", str(index_dir), "--cases", str(DATA / "cases.jsonl"),
                 "--text-column", "text", "--label-column", "label", "--names", str(DATA / "names.json"),
                 "--out", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert {"top1", "top5", "top10", "mrr", "n_cases"} <= set(report)
    assert report["n_cases"] == 4 and report["top1"] == 1.0 and report["mrr"] == 1.0  # GERD matched via names
    assert set(report["baselines"]) == {"bm25", "dense"} and report["latency_ms"]["p50"] > 0
    assert report["per_label"]["Acid reflux"] == {"n": 1, "top1": 1.0, "top5": 1.0}
    assert (out / "report.md").is_file() and len((out / "per_case.jsonl").read_text().splitlines()) == 4


def test_cli_bad_input(index_dir, tmp_path, capsys) -> None:  # noqa: ANN001
    from kbqa.cli import main

    assert main(["diagnose", "--index", str(index_dir), "  "]) == 2
    assert "description is empty" in capsys.readouterr().err
    assert main(["diagnose", "--index", str(index_dir), "--input", str(DATA / "cases.jsonl"), "--text-column",
                 "symptoms"]) == 2
    err = capsys.readouterr().err
    assert "cases.jsonl" in err and "no text column 'symptoms'" in err and "columns present" in err
    empty = tmp_path / "empty.csv"
    empty.write_text("id,text\na,fever\nb,\n")
    assert main(["diagnose", "--index", str(index_dir), "--input", str(empty)]) == 2
    assert "empty.csv:3" in capsys.readouterr().err
    assert main(["eval", "diagnose", "--index", str(index_dir), "--cases", str(DATA / "cases.jsonl"),
                 "--label-column", "diagnosis", "--out", str(tmp_path / "R")]) == 2
    assert "no label column 'diagnosis'" in capsys.readouterr().err


def test_cli_deidentify_keeps_phi_out_of_the_output(index_dir, tmp_path, capsys) -> None:  # noqa: ANN001
    from kbqa.cli import main

    phi = "Patient John Carmichael, DOB 04/12/1961, MRN 88120455: " + DESCRIPTION
    assert main(["diagnose", "--index", str(index_dir), phi, "--json", "--deidentify"]) == 0
    out = capsys.readouterr().out
    assert "Carmichael" not in out and "88120455" not in out and "04/12/1961" not in out
    assert json.loads(out)["conditions"][0]["name"] == "Psoriasis"  # the clinical words survive
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"id": "c1", "text": phi}) + "\n")
    preds = tmp_path / "preds.jsonl"
    assert main(["diagnose", "--index", str(index_dir), "--input", str(cases), "--out", str(preds),
                 "--deidentify"]) == 0
    written = preds.read_text()
    assert "Carmichael" not in written and json.loads(written)["conditions"][0]["name"] == "Psoriasis"


def test_descriptions_keep_their_own_bm25_weight_when_the_index_weights_long_queries(kb) -> None:  # noqa: ANN001
    """ScoringParams.lexical_weight (1.5, tuned on descriptions) applies to every description: an index's
    search.long_query_words rule (kbqa.retrieve.lexical_weight_for) must not replace it for long ones."""
    hybrid = kb.with_search(mode="hybrid")
    rule = hybrid.with_search(long_query_words=3, lexical_weight_long=0.0)

    def ranked(d):  # noqa: ANN001, ANN202
        return [(c.name, round(c.score, 6)) for c in d.conditions]

    assert ranked(diagnose(rule, DESCRIPTION, k=5)) == ranked(diagnose(hybrid, DESCRIPTION, k=5))
    # the rule itself is on: searching the description directly, BM25 drops out
    assert rule.search(DESCRIPTION, k=5) == hybrid.with_search(lexical_weight=0.0).search(DESCRIPTION, k=5)
