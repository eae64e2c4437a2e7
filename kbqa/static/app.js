// The evidence page: plain DOM code, no build step. Data is only ever inserted as text (never as HTML).
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "kbqa-api-key"; // sessionStorage: forgotten when the tab closes

function headers() {
  const h = { "Content-Type": "application/json" };
  const key = $("api-key").value.trim();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function setStatus(text, isError) {
  const s = $("status");
  s.textContent = text;
  s.className = isError ? "error" : "muted";
}

async function call(method, path, body) {
  const res = await fetch(path, {
    method,
    headers: headers(),
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (res.status === 401) {
    $("key-row").hidden = false;
    $("api-key").focus();
  }
  if (!res.ok) {
    const detail = data && data.detail ? data.detail : res.statusText;
    const err = new Error(detail);
    err.status = res.status;
    throw err;
  }
  if ($("api-key").value.trim()) sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
  return data;
}

function pct(x) { return x === null || x === undefined ? "n/a" : (100 * x).toFixed(0) + "%"; }

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

// The passage text with [start, end) wrapped in <mark>, built from text nodes only.
function highlighted(text, span) {
  const p = el("p", "passage");
  if (Array.isArray(span) && span.length === 2 && span[0] >= 0 && span[1] > span[0] && span[1] <= text.length) {
    p.append(document.createTextNode(text.slice(0, span[0])));
    p.append(el("mark", null, text.slice(span[0], span[1])));
    p.append(document.createTextNode(text.slice(span[1])));
  } else {
    p.textContent = text;
  }
  return p;
}

function citationNode(item) {
  const meta = item.metadata || {};
  const url = meta.pmid ? "https://pubmed.ncbi.nlm.nih.gov/" + encodeURIComponent(String(meta.pmid)) + "/"
    : (typeof meta.url === "string" && /^https?:\/\//.test(meta.url) ? meta.url : null);
  if (!url) return el("span", "citation", item.citation);
  const a = el("a", "citation", item.citation);
  a.href = url;
  a.rel = "noopener noreferrer";
  a.target = "_blank";
  return a;
}

function renderEvidence(items, isAnswer) {
  const list = $("evidence");
  list.replaceChildren();
  for (const item of items) {
    const li = el("li", "evidence " + (item.stance || "hit"));
    const head = el("div", "ev-head");
    if (isAnswer) {
      head.append(el("span", "stance " + item.stance, item.stance === "off_topic" ? "off topic" : item.stance));
      head.append(el("span", "muted", " " + pct(item.probability) + " "));
    } else {
      head.append(el("span", "muted", "score " + (item.score === null ? "n/a" : item.score.toFixed(3)) + " "));
    }
    head.append(citationNode(item));
    if (item.metadata && item.metadata.retracted) head.append(el("span", "retracted", " RETRACTED"));
    li.append(head);
    if (item.title) li.append(el("div", "ev-title", item.title));
    li.append(highlighted(item.text, isAnswer ? item.highlight : null));
    list.append(li);
  }
  $("evidence-section").hidden = false;
}

function renderAnswer(ans) {
  // the decision comes first: null when the answer abstains or the question is not a yes/no question
  const v = $("verdict");
  const reason = (ans.provenance && ans.provenance.reason) || "";
  const insufficient = reason.startsWith("insufficient evidence");
  if (ans.decision) {
    v.textContent = "Decision: " + ans.decision.toUpperCase();
  } else if (ans.question_type !== "yes_no") {
    v.textContent = "Decision: none (not a yes/no question)";
  } else {
    v.textContent = insufficient ? "Decision: none (insufficient evidence)" : "Decision: none (abstained)";
  }
  v.className = "verdict " + (ans.decision ? ans.decision : "abstained");
  // a confidence read from passages that do not address the question is not shown
  $("confidence").textContent = insufficient || ans.question_type !== "yes_no" ? ""
    : (ans.decision ? "" : "leaning " + ans.verdict + ", ") + "confidence " + pct(ans.confidence);
  $("reason").textContent = reason;
  const probs = $("probabilities");
  probs.replaceChildren();
  for (const [label, p] of Object.entries(ans.probabilities || {})) {
    const row = el("div", "prob");
    row.append(el("span", "prob-label", label));
    const bar = el("span", "bar");
    const fill = el("span", "fill " + label);
    fill.style.width = pct(p);
    bar.append(fill);
    row.append(bar, el("span", "prob-value", pct(p)));
    probs.append(row);
  }
  $("answer").hidden = false;
  $("evidence-title").textContent = "Evidence (" + ans.evidence.length + " passages)";
  renderEvidence(ans.evidence, true);
  if (ans.disclaimer) $("disclaimer").textContent = ans.disclaimer;
}

async function run(mode) {
  const question = $("question").value.trim();
  if (!question) { setStatus("Write a question first.", true); return; }
  const k = parseInt($("k").value, 10) || 10;
  $("answer").hidden = true;
  $("evidence-section").hidden = true;
  setStatus(mode === "ask" ? "Reading the evidence…" : "Searching…", false);
  document.body.classList.add("busy");
  try {
    if (mode === "ask") {
      const ans = await call("POST", "/ask", { question, k });
      renderAnswer(ans);
      setStatus("Index version " + ans.index_version + ".", false);
    } else {
      const res = await call("POST", "/search", { query: question, k });
      $("evidence-title").textContent = "Passages (" + res.hits.length + ")";
      renderEvidence(res.hits, false);
      setStatus("Index version " + res.index_version + ". Search only: no verdict.", false);
    }
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    document.body.classList.remove("busy");
  }
}

async function loadInfo() {
  try {
    const info = await call("GET", "/index");
    const c = info.counts || {};
    $("index-info").textContent = "Index " + info.version + ": " + (c.documents ?? "?") + " documents, "
      + (c.chunks ?? "?") + " passages" + (info.reader ? "; reader " + info.reader : "; no reader loaded (search only)");
    $("k").max = String((info.limits && info.limits.ask_k_max) || 50);
    if (info.disclaimer) $("disclaimer").textContent = info.disclaimer;
  } catch (err) {
    if (err.status === 401) setStatus("This server needs an API key: enter it above.", true);
    else setStatus("Could not reach the server: " + err.message, true);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const saved = sessionStorage.getItem(KEY_STORE);
  if (saved) { $("api-key").value = saved; $("key-row").hidden = false; }
  $("ask-form").addEventListener("submit", (e) => { e.preventDefault(); run("ask"); });
  $("search-button").addEventListener("click", () => run("search"));
  $("api-key").addEventListener("change", loadInfo);
  loadInfo();
});
