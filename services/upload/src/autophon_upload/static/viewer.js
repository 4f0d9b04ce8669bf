// The alignment viewer: a completed task's recordings, each with its waveform, spectrogram
// and tiers on one time axis (summaries from GET .../files/{n}/view), played from the
// recording (GET .../files/{n}/audio) while the server keeps it. Plain JS, no build.
"use strict";
const taskId = new URLSearchParams(location.search).get("task") || "";
const $ = id => document.getElementById(id);
const audio = $("audio");
const state = {
  view: null, peaks: null, image: null, t0: 0, t1: 1, selection: null, stopAt: null,
  audioUrl: null, samples: null, rate: 0, gain: 1, loading: 0,
};

// The samples of the 16-bit mono WAV the API serves (for the waveform zoomed in beyond its
// summary); null for anything else.
function wavSamples(buffer) {
  const view = new DataView(buffer);
  if (buffer.byteLength < 12 || view.getUint32(0) !== 0x52494646) return null;  // "RIFF"
  let offset = 12, rate = 0, bits = 0, channels = 0;
  while (offset + 8 <= buffer.byteLength) {
    const kind = view.getUint32(offset), size = view.getUint32(offset + 4, true);
    if (kind === 0x666d7420) {  // "fmt "
      channels = view.getUint16(offset + 10, true);
      rate = view.getUint32(offset + 12, true);
      bits = view.getUint16(offset + 22, true);
    } else if (kind === 0x64617461) {  // "data"
      if (channels !== 1 || bits !== 16) return null;
      const count = Math.floor(Math.min(size, buffer.byteLength - offset - 8) / 2);
      return { samples: new Int16Array(buffer.slice(offset + 8, offset + 8 + count * 2)), rate };
    }
    offset += 8 + size + (size % 2);
  }
  return null;
}

function decodeBase64(text) {
  const bytes = atob(text);
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) out[i] = bytes.charCodeAt(i);
  return out;
}

// -- the time window -----------------------------------------------------------------------
function width() { return $("wave").parentElement.clientWidth; }
function duration() { return state.view ? state.view.duration_s : 1; }
function timeToX(t) { return (t - state.t0) / (state.t1 - state.t0) * width(); }
function xToTime(x) { return state.t0 + x / width() * (state.t1 - state.t0); }

function setWindow(t0, t1) {
  const total = duration(), span = Math.min(total, Math.max(0.01, t1 - t0));
  t0 = Math.min(Math.max(0, t0), total - span);
  state.t0 = t0; state.t1 = t0 + span;
  const spacer = $("scroll-spacer"), scroll = $("scroll");
  spacer.style.width = `${scroll.clientWidth * total / span}px`;
  scroll.scrollLeft = t0 / total * spacer.clientWidth;
  draw();
}
function zoom(factor, around) {
  const centre = around ?? (state.t0 + state.t1) / 2;
  const span = (state.t1 - state.t0) * factor;
  const ratio = (centre - state.t0) / (state.t1 - state.t0);
  setWindow(centre - span * ratio, centre - span * ratio + span);
}

// -- drawing -------------------------------------------------------------------------------
function sizeCanvas(canvas) {
  const w = width(), ratio = window.devicePixelRatio || 1, h = canvas.height / (canvas._ratio || 1);
  canvas._ratio = ratio;
  canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio);
  canvas.style.height = `${h}px`;
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  return [context, w, h];
}

function drawWaveform() {
  const [g, w, h] = sizeCanvas($("wave"));
  g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
  g.strokeStyle = "#ccc"; g.beginPath(); g.moveTo(0, h / 2); g.lineTo(w, h / 2); g.stroke();
  if (!state.view.waveform && !state.samples) return note(g, w, h, "no waveform stored");
  const peaks = state.peaks, cps = state.view.waveform ? state.view.waveform.columns_per_second : 1;
  const columns = peaks.length / 2;
  g.fillStyle = "#1b4f8a";
  if (state.samples && (state.t1 - state.t0) * cps < w) {
    drawSamples(g, w, h);
    return;
  }
  for (let x = 0; x < w; x++) {
    const a = Math.floor(xToTime(x) * cps), b = Math.max(a + 1, Math.ceil(xToTime(x + 1) * cps));
    let low = 127, high = -128;
    for (let i = Math.max(0, a); i < Math.min(columns, b); i++) {
      low = Math.min(low, peaks[2 * i]); high = Math.max(high, peaks[2 * i + 1]);
    }
    if (low > high) continue;
    const top = h / 2 - high * state.gain / 128 * h / 2;
    const bottom = h / 2 - low * state.gain / 128 * h / 2;
    g.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

// Zoomed in beyond the summary's columns: the recording's own samples, while it is kept.
function drawSamples(g, w, h) {
  const samples = state.samples, rate = state.rate;
  for (let x = 0; x < w; x++) {
    const a = Math.floor(xToTime(x) * rate), b = Math.max(a + 1, Math.floor(xToTime(x + 1) * rate));
    let low = 32767, high = -32768;
    for (let i = Math.max(0, a); i < Math.min(samples.length, b + 1); i++) {
      low = Math.min(low, samples[i]); high = Math.max(high, samples[i]);
    }
    if (low > high) continue;
    const top = h / 2 - high * state.gain / 32768 * h / 2;
    const bottom = h / 2 - low * state.gain / 32768 * h / 2;
    g.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

// A task aligned before views were written has only its tiers.
function note(g, w, h, text) {
  g.fillStyle = "#888"; g.font = "13px system-ui, sans-serif"; g.textAlign = "center";
  g.fillText(text, w / 2, h / 2);
  g.textAlign = "start";
}

function drawSpectrogram() {
  const [g, w, h] = sizeCanvas($("spectrogram"));
  g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
  if (!state.image) return note(g, w, h, "no spectrogram stored");
  const cps = Number(state.view.spectrogram.columns_per_second);
  g.imageSmoothingEnabled = true;
  g.drawImage(state.image, state.t0 * cps, 0, (state.t1 - state.t0) * cps, state.image.height,
    0, 0, w, h);
}

function niceStep(span, pixels) {
  const wanted = span * 90 / pixels;
  for (const step of [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20,
    30, 60, 120, 300, 600, 1200, 1800, 3600]) if (step >= wanted) return step;
  return 7200;
}

function drawAxis() {
  const [g, w, h] = sizeCanvas($("axis"));
  g.fillStyle = "#fff"; g.fillRect(0, 0, w, h);
  const step = niceStep(state.t1 - state.t0, w);
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  g.fillStyle = "#333"; g.strokeStyle = "#333"; g.font = "11px system-ui, sans-serif";
  for (let t = Math.ceil(state.t0 / step) * step; t <= state.t1 + 1e-9; t += step) {
    const x = Math.round(timeToX(t)) + 0.5;
    g.beginPath(); g.moveTo(x, 0); g.lineTo(x, 5); g.stroke();
    g.fillText(t.toFixed(decimals), x + 2, 16);
  }
}

function drawTiers() {
  const w = width();
  for (const lane of document.querySelectorAll("#tiers .lane")) {
    const intervals = state.view.tiers[Number(lane.dataset.tier)].intervals;
    const html = [];
    intervals.forEach(([first, last, text], i) => {
      // The view is written by an alignment Job: nothing in it reaches the page unchecked.
      const start = Number(first), end = Number(last), label = String(text);
      if (!(end >= state.t0 && start <= state.t1)) return;
      // Clipped to the lane, so the label of a long interval stays in sight.
      const left = Math.max(-1, timeToX(start)), right = Math.min(w + 1, timeToX(end));
      const selected = state.selection && state.selection[0] === start && state.selection[1] === end;
      html.push(`<div class="interval${selected ? " selected" : ""}" data-index="${i}" ` +
        `data-start="${start}" data-end="${end}" title="${escapeHtml(label)} ` +
        `${start.toFixed(3)}–${end.toFixed(3)} s" style="left:${left}px;width:${right - left}px">` +
        `${right - left > 14 ? escapeHtml(label) : ""}</div>`);
    });
    lane.innerHTML = html.join("");
    lane.style.width = `${w}px`;
  }
}

function drawSelection() {
  const box = $("selection");
  if (!state.selection) { box.hidden = true; return; }
  const [a, b] = state.selection;
  box.hidden = false;
  box.style.left = `${timeToX(a)}px`;
  box.style.width = `${Math.max(1, timeToX(b) - timeToX(a))}px`;
}

function readout() {
  const s = state.selection;
  $("readout").textContent = `window ${state.t0.toFixed(3)} to ${state.t1.toFixed(3)} s` +
    (s ? `; selection ${s[0].toFixed(3)} to ${s[1].toFixed(3)} s (${(s[1] - s[0]).toFixed(3)} s)` : "");
}

function draw() {
  if (!state.view) return;
  drawWaveform(); drawSpectrogram(); drawTiers(); drawAxis(); drawSelection(); readout();
  drawPlayhead();
}

function drawPlayhead() {
  const head = $("playhead");
  const t = audio.currentTime;
  const shown = state.audioUrl && (!audio.paused || t > 0) && t >= state.t0 && t <= state.t1;
  head.style.display = shown ? "block" : "none";
  if (shown) head.style.left = `${timeToX(t)}px`;
}

// -- playing -------------------------------------------------------------------------------
function setPlayable(playable) {
  for (const id of ["play-selection", "play-window"]) $(id).disabled = !playable;
}
function play(start, end) {
  if (!state.audioUrl) return;
  audio.currentTime = start;
  state.stopAt = end;
  audio.play().catch(() => { /* no audio output: the position still moved */ });
  requestAnimationFrame(tick);
}
function tick() {
  if (state.stopAt !== null && audio.currentTime >= state.stopAt) {
    audio.pause(); state.stopAt = null;
  }
  drawPlayhead();
  if (!audio.paused) requestAnimationFrame(tick);
}
audio.addEventListener("pause", drawPlayhead);
audio.addEventListener("seeked", drawPlayhead);

// -- loading -------------------------------------------------------------------------------
async function loadRecording(index) {
  const loading = ++state.loading;
  $("message").textContent = "";
  $("audio-note").hidden = true;
  if (state.audioUrl) { URL.revokeObjectURL(state.audioUrl); state.audioUrl = null; }
  audio.removeAttribute("src"); audio.load();
  state.samples = null;
  document.body.dataset.ready = "";
  let view;
  try {
    view = await (await api(`tasks/${taskId}/files/${index}/view`)).json();
  } catch (error) { $("message").textContent = error.message; return; }
  let image = null;
  if (view.spectrogram) {
    image = new Image();
    image.src = `data:image/png;base64,${view.spectrogram.png}`;
    await image.decode().catch(() => { image = null; });
  }
  if (loading !== state.loading) return;
  const peaks = new Int8Array(view.waveform ? decodeBase64(view.waveform.peaks).buffer : 0);
  // The waveform fills its height: scaled to the recording's loudest peak.
  const loudest = peaks.reduce((most, v) => Math.max(most, Math.abs(v)), 1);
  const gain = peaks.length ? 0.95 * 127 / loudest : 1;
  Object.assign(state, { view, image, peaks, gain, selection: null });
  $("max-frequency").textContent =
    view.spectrogram ? `0–${Math.round(Number(view.spectrogram.max_frequency))} Hz` : "";
  $("tiers").innerHTML = view.tiers.map((tier, i) =>
    `<div class="row"><div class="name" title="${escapeHtml(tier.name)}">${escapeHtml(tier.name)}</div>` +
    `<div class="content"><div class="lane" data-tier="${i}" data-name="${escapeHtml(tier.name)}"></div></div></div>`).join("");
  setWindow(0, view.duration_s);
  try {
    const blob = await (await api(`tasks/${taskId}/files/${index}/audio`)).blob();
    if (loading !== state.loading) return;
    const wav = wavSamples(await blob.arrayBuffer());
    if (wav) { state.samples = wav.samples; state.rate = wav.rate; }
    state.audioUrl = URL.createObjectURL(blob);
    audio.src = state.audioUrl;
    audio.hidden = false;
    setPlayable(true);
    draw();
  } catch (error) {
    audio.hidden = true;
    setPlayable(false);
    const note = $("audio-note");
    note.hidden = false;
    note.textContent = error.status === 404
      ? `${error.message} Playback is not available.` : error.message;
  }
  document.body.dataset.ready = "1";
}

async function loadTask() {
  $("message").textContent = "";
  try {
    const task = await (await api(`tasks/${taskId}`)).json();
    $("task-line").textContent = `Task ${task.id.slice(0, 8)}: ${task.files.length} recording(s), ` +
      `${task.language}, ${task.engine}, ${task.status}`;
    if (task.status !== "completed") {
      $("message").textContent = `The task is ${task.status}; it can be viewed once completed.`;
      return;
    }
    $("recording").innerHTML = task.files.map((f, i) =>
      `<option value="${i}">${escapeHtml(f.name)}</option>`).join("");
    await loadRecording(0);
  } catch (error) { $("message").textContent = error.message; }
}

// -- the user's actions ----------------------------------------------------------------------
$("recording").addEventListener("change", event => loadRecording(Number(event.target.value)));
$("zoom-in").addEventListener("click", () => zoom(0.5));
$("zoom-out").addEventListener("click", () => zoom(2));
$("zoom-all").addEventListener("click", () => setWindow(0, duration()));
$("zoom-selection").addEventListener("click", () => {
  if (state.selection) setWindow(state.selection[0], state.selection[1]);
});
$("play-selection").addEventListener("click", () => {
  if (state.selection) play(...state.selection); else play(state.t0, state.t1);
});
$("play-window").addEventListener("click", () => play(state.t0, state.t1));
$("download").addEventListener("click", async event => {
  event.preventDefault();
  try {
    const blob = await (await api(`tasks/${taskId}/result`)).blob();
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob); link.download = `autophon-${taskId}.zip`; link.click();
  } catch (error) { $("message").textContent = error.message; }
});
$("scroll").addEventListener("scroll", () => {
  const spacer = $("scroll-spacer");
  const span = state.t1 - state.t0;
  const t0 = $("scroll").scrollLeft / spacer.clientWidth * duration();
  if (Math.abs(t0 - state.t0) > span / width() / 2) { state.t0 = t0; state.t1 = t0 + span; draw(); }
});
$("viewer").addEventListener("wheel", event => {
  if (!state.view) return;
  event.preventDefault();
  const box = $("wave").getBoundingClientRect();
  const span = state.t1 - state.t0;
  if (event.shiftKey || Math.abs(event.deltaX) > Math.abs(event.deltaY)) {
    const delta = (event.shiftKey ? event.deltaY : event.deltaX) / width() * span;
    setWindow(state.t0 + delta, state.t1 + delta);
  } else {
    zoom(event.deltaY > 0 ? 1.25 : 0.8, xToTime(Math.min(Math.max(0, event.clientX - box.left), width())));
  }
}, { passive: false });
$("tiers").addEventListener("click", event => {
  const interval = event.target.closest(".interval");
  if (!interval) return;
  const start = Number(interval.dataset.start), end = Number(interval.dataset.end);
  state.selection = [start, end];
  draw();
  play(start, end);
});
// Dragging over the waveform or the spectrogram selects; a click places the cursor.
for (const canvas of [$("wave"), $("spectrogram")]) {
  canvas.addEventListener("mousedown", event => {
    const box = canvas.getBoundingClientRect();
    const anchor = xToTime(event.clientX - box.left);
    const move = e => {
      const t = Math.min(Math.max(0, xToTime(e.clientX - box.left)), duration());
      state.selection = [Math.min(anchor, t), Math.max(anchor, t)];
      drawSelection(); drawTiers(); readout();
    };
    const up = e => {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
      if (Math.abs(e.clientX - event.clientX) < 3) {
        state.selection = null; draw();
        if (state.audioUrl) { audio.currentTime = Math.max(0, anchor); drawPlayhead(); }
      }
    };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  });
}
document.addEventListener("keydown", event => {
  // Keys that fields, menus and the player use themselves stay theirs (Space on a button too).
  if (!state.view || event.target.closest("input, select, audio")) return;
  const span = state.t1 - state.t0;
  const keys = {
    ArrowLeft: () => setWindow(state.t0 - span / 4, state.t1 - span / 4),
    ArrowRight: () => setWindow(state.t0 + span / 4, state.t1 + span / 4),
    "+": () => zoom(0.5), "=": () => zoom(0.5), "-": () => zoom(2),
  };
  if (keys[event.key]) { event.preventDefault(); keys[event.key](); return; }
  if (event.code !== "Space" || event.target.closest("button")) return;
  event.preventDefault();
  if (!audio.paused) { audio.pause(); return; }
  if (state.selection) play(...state.selection); else play(state.t0, state.t1);
});
window.addEventListener("resize", () => setWindow(state.t0, state.t1));
setupTokenField(loadTask);
loadTask();
