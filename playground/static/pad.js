// The drag pad (playground/pad.py): drag over the plane and the digit under the pointer is decoded in this page, once per
// animation frame, with no server round trip. Run by gr.HTML's js_on_load, which gives element, trigger, props, server
// and watch; decoder.js (VAEDecoder) comes first in the same script.
const pad = element.querySelector(".pad");
const plane = pad.querySelector("canvas.pad-plane"), digit = pad.querySelector("canvas.pad-digit");
const words = pad.querySelector(".pad-words"), rate = pad.querySelector(".pad-rate");
const SIZE = plane.width, MARGIN = 30, INNER = SIZE - 2 * MARGIN;
const state = { loads: 0, net: null, version: null, view: null, z: [0, 0], pending: null, frame: 0, dragging: false,
                stats: { frames: 0, first: 0, last: 0, decode_ms: 0 } };
const backdrop = document.createElement("canvas");
backdrop.width = backdrop.height = SIZE;

const toPixel = (v, span) => MARGIN + ((v + span) / (2 * span)) * INNER;
const clamp = (v, span) => Math.max(-span, Math.min(span, v));

// The plane once per model and dimensions: axes, ticks, and the test digits' codes coloured by their label.
function drawBackdrop(view) {
  const g = backdrop.getContext("2d"), s = view.span;
  g.fillStyle = "#ffffff"; g.fillRect(0, 0, SIZE, SIZE);
  g.strokeStyle = "#dddddd"; g.fillStyle = "#555555"; g.font = "10px sans-serif"; g.textAlign = "center";
  for (let t = -Math.floor(s); t <= Math.floor(s); t++) {
    const p = toPixel(t, s), q = toPixel(-t, s);
    g.beginPath(); g.moveTo(p, MARGIN); g.lineTo(p, SIZE - MARGIN); g.stroke();
    g.beginPath(); g.moveTo(MARGIN, q); g.lineTo(SIZE - MARGIN, q); g.stroke();
    g.fillText(String(t), p, SIZE - MARGIN + 12);
    g.fillText(String(t), MARGIN - 10, q + 3);
  }
  g.fillText(view.axes[0], SIZE / 2, SIZE - 4);
  g.save(); g.translate(10, SIZE / 2); g.rotate(-Math.PI / 2); g.fillText(view.axes[1], 0, 0); g.restore();
  const pts = view.points;
  for (let i = 0; i < pts.label.length; i++) {
    if (Math.abs(pts.x[i]) > s || Math.abs(pts.y[i]) > s) continue;
    g.fillStyle = view.colors[pts.label[i] % 10];
    g.globalAlpha = 0.55;
    g.beginPath(); g.arc(toPixel(pts.x[i], s), toPixel(-pts.y[i], s), 2, 0, 2 * Math.PI); g.fill();
  }
  g.globalAlpha = 1;
}

function show(z) {
  const view = state.view, s = view.span;
  const full = new Array(state.net.latent_dim).fill(0);
  full[view.dims[0]] = z[0]; full[view.dims[1]] = z[1];
  const t0 = performance.now();
  const image = VAEDecoder.decode(state.net, full);
  state.stats.decode_ms = performance.now() - t0;
  const d = digit.getContext("2d"), pixels = d.createImageData(28, 28);
  for (let i = 0; i < 784; i++) {
    const v = Math.round(image[i] * 255);
    pixels.data.set([v, v, v, 255], 4 * i);
  }
  d.putImageData(pixels, 0, 0);
  const g = plane.getContext("2d"), x = toPixel(z[0], s), y = toPixel(-z[1], s);
  g.drawImage(backdrop, 0, 0);
  g.strokeStyle = "#d62728"; g.lineWidth = 2;
  g.beginPath(); g.arc(x, y, 7, 0, 2 * Math.PI); g.stroke();
  g.lineWidth = 1;
  state.z = z;
  words.textContent = `z1 = ${z[0].toFixed(2)}, z2 = ${z[1].toFixed(2)}` +
    (state.net.latent_dim > 2 ? `, the other ${state.net.latent_dim - 2} dimensions at 0` : "");
}

// One decode per animation frame, of the latest point the pointer reached.
function frame(now) {
  state.frame = 0;
  if (!state.pending || !state.net) return;
  show(state.pending);
  state.pending = null;
  const st = state.stats;
  if (state.dragging) {
    if (!st.first) st.first = now;
    st.frames += 1; st.last = now;
  }
  if (st.frames > 1) {
    const fps = (st.frames - 1) / ((st.last - st.first) / 1000);
    rate.textContent = `Decoded in this page: ${st.decode_ms.toFixed(1)} ms a digit, ${Math.round(fps)} frames a second while you drag.`;
  }
}

function pointAt(event) {
  const box = plane.getBoundingClientRect(), s = state.view.span;
  const px = ((event.clientX - box.left) / box.width) * SIZE, py = ((event.clientY - box.top) / box.height) * SIZE;
  return [clamp(((px - MARGIN) / INNER) * 2 * s - s, s), clamp(s - ((py - MARGIN) / INNER) * 2 * s, s)];
}

function ask(z) {
  state.pending = z;
  if (!state.frame) state.frame = requestAnimationFrame(frame);
}

plane.addEventListener("pointerdown", (event) => {
  if (!state.net) return;
  plane.setPointerCapture(event.pointerId);
  state.dragging = true;
  state.stats = { frames: 0, first: 0, last: 0, decode_ms: state.stats.decode_ms };
  ask(pointAt(event));
});
plane.addEventListener("pointermove", (event) => { if (state.dragging) ask(pointAt(event)); });
const release = (event) => {
  if (!state.dragging) return;
  state.dragging = false;
  const z = pointAt(event);
  ask(z);
  trigger("release", { z });  // the sliders, the grid's ring and the link follow where the drag ended
};
plane.addEventListener("pointerup", release);
plane.addEventListener("pointercancel", release);

// The server's value: which model, dimensions and point, and a version naming the decoder's weights; the weights
// themselves are asked for once per version (server.decoder_weights).
async function load() {
  const value = props.value, ticket = ++state.loads;
  if (!value || !value.version) {
    state.net = null;
    words.textContent = (value && value.message) || "The pad draws once the tab has a model.";
    return;
  }
  if (value.version !== state.version) {
    state.net = null;
    words.textContent = "Fetching the decoder's weights (once per model)...";
    const spec = await server.decoder_weights(value.version);
    if (ticket !== state.loads) return;  // a newer model or dimensions arrived meanwhile (a watch called load again)
    if (!spec || spec.error) { words.textContent = (spec && spec.error) || "The decoder's weights did not arrive."; return; }
    state.net = VAEDecoder.prepare(spec);
    state.version = value.version;
  }
  state.view = value;
  drawBackdrop(value);
  show(value.z);
}

watch("value", load);
load();
// for the sliders' script (ui.py) and the tests: move the pad's point, decode a z as this page does
pad.vae = { moveTo: (z1, z2) => { if (state.net && !state.dragging) ask([z1, z2]); }, state, decode: (z) => Array.from(VAEDecoder.decode(state.net, z)) };
