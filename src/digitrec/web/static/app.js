// The drawing page: strokes on a canvas, sent as PNG to POST /predict while drawing (debounced)
// and when a stroke ends; the answer, ten bars and the 28x28 view come back from the same API
// everyone else uses. With "inside the network" ticked, each answer is followed by POST /explain:
// the pixels that decided it over the 28x28 view, and each layer's first feature maps; clicking a
// bar asks why (not) that digit. No framework, no build step.
"use strict";
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const answerEl = document.getElementById("answer");
const statusEl = document.getElementById("status");
const barsEl = document.getElementById("bars");
const seen = document.getElementById("seen").getContext("2d");
const insideBox = document.getElementById("inside");
const insideView = document.getElementById("insideView");
const DEBOUNCE_MS = 150;
let drawing = false, dirty = false, last = null, timer = null, again = false, pending = 0;
let lastBlob = null, lastName = null, askDigit = null;
// Bumped by a clear (an opened file clears the pad too): an answer to what was on it before is not shown.
let generation = 0;

function reset() {
  generation++;
  clearTimeout(timer); timer = null; again = false;
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  dirty = false;
  answerEl.textContent = "…";
  statusEl.textContent = "draw a digit, or upload a photo";
  document.title = "digitrec — draw a digit";
  drawBars(null);
  drawSeen(null);
  lastBlob = null; askDigit = null;
  clearInside();
}

function point(e) {
  const r = pad.getBoundingClientRect();
  return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
}

function stroke(a, b) {
  ctx.strokeStyle = "#000"; ctx.lineWidth = 18; ctx.lineCap = "round"; ctx.lineJoin = "round";
  ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
}

pad.addEventListener("pointerdown", e => {
  drawing = true; dirty = true; last = point(e); stroke(last, last);
  pad.setPointerCapture(e.pointerId);
});
pad.addEventListener("pointermove", e => {
  if (!drawing) return;
  const p = point(e); stroke(last, p); last = p;
  if (!timer) timer = setTimeout(() => { timer = null; send(); }, DEBOUNCE_MS);
});
function end() { if (drawing) { drawing = false; clearTimeout(timer); timer = null; send(); } }
pad.addEventListener("pointerup", end);
pad.addEventListener("pointercancel", end);
document.getElementById("clear").addEventListener("click", reset);
document.addEventListener("keydown", e => { if (e.key === "Escape") reset(); });

document.getElementById("file").addEventListener("change", e => {
  const file = e.target.files[0];
  if (!file) return;
  reset();  // the pad shows the file, not what was drawn before (whose answer, if late, is not shown)
  const img = new Image();
  img.onload = () => {
    const s = Math.min(pad.width / img.width, pad.height / img.height);
    ctx.drawImage(img, (pad.width - img.width * s) / 2, (pad.height - img.height * s) / 2, img.width * s, img.height * s);
    dirty = true;
    URL.revokeObjectURL(img.src);
  };
  img.src = URL.createObjectURL(file);
  post(file, file.name);  // the original file, at full resolution, not the canvas copy
});

function send() {
  if (!dirty) return;
  if (pending) { again = true; return; }  // one request at a time; the latest drawing wins
  pad.toBlob(blob => post(blob, "drawing.png"), "image/png");
}

async function post(blob, name) {
  const mine = generation;
  busy(1);
  const form = new FormData();
  form.append("file", blob, name);
  try {
    const res = await fetch("/predict?preprocessed=true", { method: "POST", body: form });
    const body = await res.json();
    if (mine !== generation) return;  // cleared, or a file opened, meanwhile
    if (!res.ok) throw new Error(body.detail || res.statusText);
    show(body);
    lastBlob = blob; lastName = name; askDigit = null;
    if (insideBox.checked) await explain();
  } catch (err) {  // nothing of the last answer stays beside the error
    if (mine !== generation) return;
    answerEl.textContent = "!"; statusEl.textContent = String(err.message || err);
    drawBars(null); drawSeen(null); clearInside(); lastBlob = null;
  } finally {
    busy(-1);
    if (again) { again = false; send(); }
  }
}

function busy(change) {  // readings under way (a drawing's one at a time), shown on the answer
  pending += change;
  answerEl.setAttribute("aria-busy", String(pending > 0));
}

function show(r) {
  if (r.digit === null) {
    const guess = r.best_guess === undefined ? "" : `probably a ${r.best_guess} (${Math.round(100 * r.confidence)}%)`;
    answerEl.textContent = "?";
    statusEl.textContent = guess ? `${guess}: ${r.reason}` : r.reason;
    document.title = "digitrec — no digit" + (guess ? `, ${guess}` : "");
  } else {
    answerEl.textContent = String(r.digit);
    statusEl.textContent = (100 * r.confidence).toFixed(1) + "% sure";
    document.title = `digitrec — ${r.digit} (${Math.round(100 * r.confidence)}%)`;
  }
  drawBars(r.probabilities);
  drawSeen(r.preprocessed || null);
}

function drawBars(probs) {
  const best = probs ? probs.indexOf(Math.max(...probs)) : -1;
  barsEl.innerHTML = "";
  for (let d = 0; d < 10; d++) {
    const p = probs ? probs[d] : 0;
    const row = document.createElement("div");
    row.className = "bar" + (d === best ? " best" : "");
    row.dataset.digit = d;
    row.addEventListener("click", () => { if (insideBox.checked && lastBlob) { askDigit = d; explain(); } });
    row.innerHTML = `<b>${d}</b><div class="track"><div class="fill" style="width:${(100 * p).toFixed(1)}%"></div></div><span>${Math.round(100 * p)}%</span>`;
    barsEl.appendChild(row);
  }
}

function drawSeen(pixels) {
  seen.fillStyle = "#000"; seen.fillRect(0, 0, 112, 112);
  if (!pixels) return;
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const v = Math.round(255 * pixels[y][x]);
    if (v) { seen.fillStyle = `rgb(${v},${v},${v})`; seen.fillRect(4 * x, 4 * y, 4, 4); }
  }
}

insideBox.addEventListener("change", () => {
  insideView.hidden = !insideBox.checked;
  if (insideBox.checked && lastBlob) explain();
});

async function explain() {
  const mine = generation;
  const form = new FormData();
  form.append("file", lastBlob, lastName);
  const query = "maps=true" + (askDigit === null ? "" : `&digit=${askDigit}`);
  try {
    const res = await fetch(`/explain?${query}`, { method: "POST", body: form });
    const body = await res.json();
    if (mine !== generation) return;
    if (!res.ok) throw new Error(body.detail || res.statusText);
    showInside(body);
  } catch (err) {
    if (mine !== generation) return;
    document.getElementById("why").textContent = String(err.message || err);
  }
}

function clearInside() {
  const a = document.getElementById("attribution").getContext("2d");
  a.clearRect(0, 0, a.canvas.width, a.canvas.height);
  document.getElementById("layers").innerHTML = "";
  document.getElementById("why").textContent = "";
  delete document.body.dataset.inside;
}

function showInside(r) {
  if (r.answer === null) {  // no digit by its ink (blank, noise, a drawing): nothing to explain
    clearInside();
    document.getElementById("why").textContent = `nothing to explain: ${r.reason}`;
    document.body.dataset.inside = "none";
    return;
  }
  document.getElementById("why").textContent = r.digit === r.answer ? `why ${r.digit}?` : `why not ${r.digit}?`;
  const a = document.getElementById("attribution").getContext("2d"), cell = 6;
  const peak = Math.max(...r.attribution.flat()) || 1;
  for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) {
    const ink = Math.round(90 * r.input[y][x]), heat = r.attribution[y][x] / peak;
    a.fillStyle = `rgb(${Math.round(ink + (255 - ink) * heat)},${ink},${ink})`;
    a.fillRect(cell * x, cell * y, cell, cell);
  }
  const layersEl = document.getElementById("layers");
  layersEl.innerHTML = "";
  for (const layer of r.layers) {
    const row = document.createElement("div");
    row.className = "layer";
    row.innerHTML = `<p class="small">${layer.name} · ${layer.kind} · ${layer.shape.join("×")}</p>`;
    for (const map of layer.maps) row.appendChild(mapCanvas(map));
    layersEl.appendChild(row);
  }
  document.body.dataset.inside = String(r.digit);
}

function mapCanvas(map) {
  const h = map.length, w = map[0].length, side = 56, c = document.createElement("canvas");
  c.width = c.height = side;
  const g = c.getContext("2d");
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = Math.round(255 * map[y][x]);
    g.fillStyle = `rgb(${v},${v},${v})`;
    g.fillRect(Math.floor(x * side / w), Math.floor(y * side / h), Math.ceil(side / w), Math.ceil(side / h));
  }
  return c;
}

// The model that answers, named as every front end names it.
fetch("/model").then(r => r.json()).then(m => {
  document.getElementById("modelName").textContent = `model: ${m.label}`;
}).catch(() => {});

reset();
