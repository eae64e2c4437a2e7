"""Request and response models of the HTTP API. Responses mirror kbqa.serialize (the ``ask --json`` shape)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from kbqa.disclaimer import DISCLAIMER
from kbqa.read.reader import MAX_QUESTION_CHARS, check_question
from kbqa.server.settings import ASK_K_MAX, DIAGNOSE_K_MAX, SEARCH_K_MAX, TREAT_K_MAX

Text = Annotated[
    str,
    Field(min_length=1, max_length=MAX_QUESTION_CHARS, pattern=r"\S"),
    AfterValidator(check_question),  # blank or (after collapsing spaces) over-long: a clear 422
]


class FiltersIn(BaseModel):
    """Metadata filters; omitted fields do not filter. Retracted documents are excluded unless asked for."""

    model_config = ConfigDict(extra="forbid")
    year_min: int | None = Field(None, ge=0, le=9999)
    year_max: int | None = Field(None, ge=0, le=9999)
    source: str | None = Field(None, max_length=200, description="meta 'source' or 'collection', case-insensitive")
    mesh: str | None = Field(None, max_length=200, description="a MeSH heading, case-insensitive")
    publication_type: str | None = Field(None, max_length=200)
    include_retracted: bool | None = None

    def to_dict(self) -> dict[str, Any] | None:
        out = self.model_dump(exclude_none=True)
        return out or None


class SearchRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "metformin lactic acidosis", "k": 5}]}
    )
    query: Text
    k: int = Field(
        10,
        ge=1,
        le=SEARCH_K_MAX,
        strict=True,
        description=f"passages to return, 1..{SEARCH_K_MAX}; clamped to the index size",
    )
    filters: FiltersIn | None = None


class AskRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"question": "Does aspirin prevent stroke?"}]}
    )
    question: Text
    k: int = Field(
        10,
        ge=1,
        le=ASK_K_MAX,
        strict=True,
        description=f"passages to retrieve and read, 1..{ASK_K_MAX}; clamped to the index size",
    )
    filters: FiltersIn | None = None


class DiagnoseRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"description": "three weeks of itchy red scaly patches on elbows and knees",
                                         "k": 10}]},
    )
    description: Text
    k: int = Field(10, ge=1, le=DIAGNOSE_K_MAX, strict=True, description=f"conditions to list, 1..{DIAGNOSE_K_MAX}")


class TreatRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"condition": "rheumatoid arthritis", "patient": "pregnant, 30 weeks",
                                         "medications": ["warfarin"], "k": 10}]},
    )
    condition: str = Field(min_length=1, max_length=300, pattern=r"\S", description="the condition to treat")
    patient: str | None = Field(None, max_length=5000, description="free text about the patient (pregnancy, kidney or "
                                "liver disease, age, allergies, ...): matching precautions become warnings")
    medications: list[str] = Field(default_factory=list, max_length=20,
                                   description="current medications: each medicine option is checked against them")
    k: int = Field(10, ge=1, le=TREAT_K_MAX, strict=True, description=f"options to list, 1..{TREAT_K_MAX}")


class HitOut(BaseModel):
    """A retrieved chunk (kbqa.types.Hit) with a citation; start/end are offsets into its document."""

    chunk_id: str
    doc_id: str
    score: float | None
    text: str
    title: str
    metadata: dict[str, Any] = Field(description="citation metadata: source, collection, pmid, url, year, mesh, ...")
    start: int
    end: int
    citation: str


class EvidenceOut(HitOut):
    """A passage as the reader judged it (kbqa.types.Evidence)."""

    stance: str = Field(description="supports | contradicts | neutral | off_topic (does not address the question)")
    probability: float | None
    probabilities: dict[str, float | None]
    highlight: list[int] | None = Field(description="[start, end] character offsets into this evidence's text")


class IntentOut(BaseModel):
    """What the question wants (kbqa.types.Intent)."""

    type: str
    confidence: float
    focus: list[str]
    focus_kinds: list[str]
    source: str


class AnswerOut(BaseModel):
    """The reader's verdict (kbqa.types.Answer), as ``kbqa ask --json`` prints it, plus the disclaimer."""

    question: str
    decision: str | None = Field(description="the answer to act on: the verdict when a yes/no question is answered; "
                                             "null when it abstains or the question is not a yes/no question")
    verdict: str = Field(description="the most probable label, also when abstaining (what evaluation scores)")
    abstained: bool
    confidence: float | None
    probabilities: dict[str, float | None]
    evidence: list[EvidenceOut]
    question_type: str
    intent: IntentOut | None = Field(None, description="the question's type, its confidence and focus (docs/question_types.md)")
    answer_passages: list[EvidenceOut] = Field(
        default_factory=list, description="open questions: the best passages of the question's type about its focus")
    provenance: dict[str, Any]
    index_version: str
    disclaimer: str = Field(DISCLAIMER, description=DISCLAIMER)


class ConditionEvidenceOut(HitOut):
    """A passage cited for a condition; ``highlight`` is its best sentence ([start, end] in ``text``)."""

    highlight: list[int] | None
    sentence: str
    weight: float | None = Field(description="the passage's weight in the condition's score")


class ConditionOut(BaseModel):
    name: str
    score: float | None
    confidence: float | None = Field(description="share of the ranking's evidence (softmax over condition scores), "
                                                 "not a probability of disease")
    evidence: list[ConditionEvidenceOut]
    classifier_probability: float | None = None


class RedFlagOut(BaseModel):
    rule: str
    flag: str
    phrases: list[str] = Field(description="the words of the description that triggered the flag")
    advice: str


class DiagnosisOut(BaseModel):
    """Candidate conditions for a description (kbqa.diagnose), as ``kbqa diagnose --json`` prints it."""

    query: str
    conditions: list[ConditionOut]
    red_flags: list[RedFlagOut] = Field(description="emergency signs found in the description: seek emergency care")
    abstained: bool = Field(description="true when no condition has enough evidence")
    provenance: dict[str, Any]
    index_version: str
    disclaimer: str = Field(DISCLAIMER, description=DISCLAIMER)


class TreatOptionOut(BaseModel):
    name: str
    kind: str = Field(description="medicine | procedure | therapy")
    score: float = Field(description="evidence summed over the distinct documents naming the option")
    documents: int
    evidence: list[dict[str, Any]] = Field(description="supporting sentences, each with doc_id, chunk_id, title, url, "
                                           "citation")
    warnings: list[dict[str, Any]] = Field(description="sentences about the option that mention the patient's situation")
    interactions: list[dict[str, Any]] = Field(description="the interaction check against each current medication")


class TreatmentOut(BaseModel):
    """Treatment options for a condition (kbqa.treat), as ``kbqa treat --json`` prints it."""

    condition: str
    matched_condition: str | None
    options: list[TreatOptionOut]
    abstained: bool = Field(description="true when no option was found; provenance.reason says why")
    patient: dict[str, Any] | None
    medications: list[str] = Field(description="the current medications checked")
    unknown_medications: list[str] = Field(description="medication names not known as medicines: not checked")
    provenance: dict[str, Any]
    index_version: str
    disclaimer: str = Field(DISCLAIMER, description=DISCLAIMER)


class SearchOut(BaseModel):
    query: str
    k: int = Field(description="k as requested; fewer hits come back when the index (or filter) holds fewer")
    index_version: str
    hits: list[HitOut]


class HealthOut(BaseModel):
    status: str = "ok"


class ReloadOut(BaseModel):
    changed: bool
    previous_version: str
    version: str


class IndexOut(BaseModel):
    """Summary of the served index version (``kbqa index info --json`` without file paths)."""

    version: str
    current_version: str | None = Field(description="the version committed on disk; differs briefly during a reload")
    versions: list[str]
    fingerprint: str | None
    created: str | None
    kbqa_version: str | None
    format_version: int | None
    counts: dict[str, Any]
    sources: list[dict[str, Any]]
    embedder: dict[str, Any]
    chunker: dict[str, Any]
    index: dict[str, Any]
    deidentification: dict[str, Any] | None = Field(
        None, description="how the indexed documents were de-identified (null: they were not)"
    )
    deidentify_queries: bool = Field(False, description="whether queries are de-identified before use")
    reader: str | None = Field(description="name of the loaded reader model, null when /ask is unavailable")
    reloads: int
    reload_error: str | None = Field(None, description="why the last reload failed (the old version stays served)")
    limits: dict[str, int]
    disclaimer: str = DISCLAIMER


class ErrorOut(BaseModel):
    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorOut, "description": "bad input (e.g. an unknown filter)"},
    401: {"model": ErrorOut, "description": "missing or wrong API key"},
    413: {"model": ErrorOut, "description": "request body too large"},
    422: {"model": ErrorOut, "description": "the request does not match the schema"},
    429: {"model": ErrorOut, "description": "rate limit exceeded; see Retry-After"},
}
