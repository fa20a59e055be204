//! The web page served at `/`: a question box, the answer streamed in, clickable citations and
//! the evidence sentences. No external assets (works offline). `/?q=...` asks at once. On a
//! server with an API key the page asks for the key once (on the first 401), keeps it in the
//! browser's local storage and sends it as `Authorization: Bearer`.

pub const INDEX: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>wikirag</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #202122; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  form { display: flex; gap: .5rem; margin: 1rem 0; }
  input[type=text] { flex: 1; padding: .5rem; font-size: 1rem; }
  button { padding: .5rem 1rem; font-size: 1rem; }
  #answer { white-space: pre-wrap; padding: .8rem; background: #f8f9fa; border: 1px solid #eaecf0; min-height: 2rem; }
  #answer a.cite { text-decoration: none; font-size: .8em; vertical-align: super; }
  #status { color: #54595d; font-size: .9rem; }
  ol#sources li { margin: .4rem 0; }
  ol#sources li.cited { background: #eaf3ff; }
  .meta { color: #54595d; font-size: .85rem; }
  .error { color: #b32424; }
</style>
</head>
<body>
<h1>wikirag</h1>
<div class="meta">Answers from a local Wikipedia index, every claim linked to the sentence it came from.</div>
<form id="ask">
  <input type="text" id="q" name="q" placeholder="Ask a question…" autocomplete="off" required>
  <button type="submit">Ask</button>
</form>
<form id="keyform" hidden>
  <input type="password" id="key" placeholder="This server needs its API key" autocomplete="off">
  <button type="submit">Use key</button>
</form>
<div id="status"></div>
<div id="answer" aria-live="polite"></div>
<h2 style="font-size:1.1rem">Sources</h2>
<ol id="sources"></ol>
<script>
const $ = (id) => document.getElementById(id);
function esc(s) { return s.replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;","\"":"&quot;"}[c])); }
function linkCitations(text) {
  return esc(text).replace(/\[(\d+)\]/g, (m, n) => `<a class="cite" href="#src-${n}" data-n="${n}">[${n}]</a>`);
}
function showSources(sources, cited) {
  $("sources").innerHTML = sources.map(s =>
    `<li id="src-${s.n}" value="${s.n}" class="${cited.has(s.n) ? "cited" : ""}">` +
    `<a href="${esc(s.link || s.url)}" target="_blank" rel="noopener" title="the sentence in the indexed revision">${esc(s.title)}</a>` +
    (s.section ? ` <span class="meta">› ${esc(s.section)}</span>` : "") +
    (s.link && s.url ? ` <a class="meta article" href="${esc(s.url)}" target="_blank" rel="noopener">article</a>` : "") +
    `<br><span class="sentence">${esc(s.text)}</span></li>`).join("");
}
const KEY = "wikirag-key";
function headers() {
  const h = {"content-type": "application/json"};
  const key = localStorage.getItem(KEY);
  if (key) h["authorization"] = "Bearer " + key;
  return h;
}
async function ask(question) {
  $("answer").textContent = ""; $("sources").innerHTML = ""; $("status").textContent = "Searching…";
  $("answer").classList.remove("error"); delete document.body.dataset.state;
  const started = performance.now();
  let text = "", sources = [];
  try {
    const resp = await fetch("/v1/ask", {method: "POST", headers: headers(),
      body: JSON.stringify({question, stream: true})});
    if (resp.status === 401) {
      localStorage.removeItem(KEY);
      $("keyform").hidden = false; $("key").focus();
      $("status").textContent = "This server needs an API key: enter it to ask (it is kept in this browser).";
      document.body.dataset.state = "needs-key";
      return;
    }
    if (!resp.ok) {
      const body = await resp.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || resp.statusText);
    }
    const reader = resp.body.getReader(); const decoder = new TextDecoder(); let buf = "";
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buf.indexOf("\n\n")) >= 0) {
        const raw = buf.slice(0, cut); buf = buf.slice(cut + 2);
        let event = "message", data = "";
        for (const line of raw.split("\n")) {
          if (line.startsWith("event:")) event = line.slice(6).trim();
          else if (line.startsWith("data:")) data += line.slice(5).trim();
        }
        if (!data) continue;
        const payload = JSON.parse(data);
        if (event === "sources") { sources = payload; showSources(sources, new Set()); $("status").textContent = "Answering…"; }
        else if (event === "token") { text += payload.text; $("answer").innerHTML = linkCitations(text); }
        else if (event === "done") {
          $("answer").innerHTML = linkCitations(payload.answer);
          showSources(payload.evidence, new Set(payload.citations.map(c => c.n)));
          const ms = Math.round(performance.now() - started);
          $("status").textContent = `${payload.citations.length} citations · ${payload.backend} · ${ms} ms` +
            (payload.invalid_citations.length ? ` · ${payload.invalid_citations.length} invalid citations removed` : "") +
            (payload.model_answer ? " · the model cited no source: answered from the sources instead" :
              payload.uncited ? " · warning: this answer cites no source" : "") +
            (payload.truncated ? " · cut at the token limit" : "");
          document.body.dataset.state = "done";
        } else if (event === "error") { throw new Error(payload.error.message); }
      }
    }
  } catch (e) {
    $("answer").textContent = "Error: " + e.message; $("answer").classList.add("error");
    $("status").textContent = ""; document.body.dataset.state = "error";
  }
}
$("ask").addEventListener("submit", (e) => { e.preventDefault(); ask($("q").value); });
$("keyform").addEventListener("submit", (e) => {
  e.preventDefault();
  const key = $("key").value.trim();
  if (!key) return;
  localStorage.setItem(KEY, key); $("key").value = ""; $("keyform").hidden = true;
  if ($("q").value) ask($("q").value);
});
const initial = new URLSearchParams(location.search).get("q");
if (initial) { $("q").value = initial; ask(initial); }
</script>
</body>
</html>
"##;
