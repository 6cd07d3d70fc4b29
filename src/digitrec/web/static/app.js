// The drawing page: strokes on a canvas, sent as PNG to POST /predict while drawing (debounced)
// and when a stroke ends; the answer, ten bars and the 28x28 view come back from the same API
// everyone else uses. No framework, no build step.
"use strict";
const pad = document.getElementById("pad");
const ctx = pad.getContext("2d");
const answerEl = document.getElementById("answer");
const statusEl = document.getElementById("status");
const barsEl = document.getElementById("bars");
const seen = document.getElementById("seen").getContext("2d");
const DEBOUNCE_MS = 150;
let drawing = false, dirty = false, last = null, timer = null, inFlight = false, again = false;

function reset() {
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, pad.width, pad.height);
  dirty = false;
  answerEl.textContent = "…";
  statusEl.textContent = "draw a digit, or upload a photo";
  document.title = "digitrec — draw a digit";
  drawBars(null);
  drawSeen(null);
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
  const img = new Image();
  img.onload = () => {
    reset();
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
  if (inFlight) { again = true; return; }  // one request at a time; the latest drawing wins
  pad.toBlob(blob => post(blob, "drawing.png"), "image/png");
}

async function post(blob, name) {
  inFlight = true;
  const form = new FormData();
  form.append("file", blob, name);
  try {
    const res = await fetch("/predict?preprocessed=true", { method: "POST", body: form });
    const body = await res.json();
    if (!res.ok) throw new Error(body.detail || res.statusText);
    show(body);
  } catch (err) {
    answerEl.textContent = "!"; statusEl.textContent = String(err.message || err);
  } finally {
    inFlight = false;
    if (again) { again = false; send(); }
  }
}

function show(r) {
  if (r.digit === null) {
    answerEl.textContent = "?";
    statusEl.textContent = r.reason;
    document.title = "digitrec — no digit";
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

reset();
