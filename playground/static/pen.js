// The pen (playground/pen.py): a plain canvas that keeps the drawing as strokes, points as fractions of its side, and
// sends them, a few hundred numbers, while the pen moves (an "input" event carrying them, every SEND_MS at most) and
// when it lifts (the component's value, which Gradio sends as a "change"). Run by gr.HTML's js_on_load, which gives
// element, trigger, props and watch.
const root = element.querySelector(".pen");
const canvas = root.querySelector("canvas"), g = canvas.getContext("2d");
const SIDE = canvas.width, WIDTH = parseFloat(root.dataset.width) * SIDE;
const SEND_MS = 150, MIN_STEP = 1.5 / SIDE;  // a point closer than 1.5 px to the last one adds nothing
const state = { strokes: [], current: null, sent: 0 };

function paint() {
  g.fillStyle = "#ffffff"; g.fillRect(0, 0, SIDE, SIDE);
  g.strokeStyle = g.fillStyle = "#000000"; g.lineWidth = WIDTH; g.lineCap = g.lineJoin = "round";
  for (const s of state.strokes) {
    g.beginPath(); g.moveTo(s[0][0] * SIDE, s[0][1] * SIDE);
    for (const [x, y] of s.slice(1)) g.lineTo(x * SIDE, y * SIDE);
    if (s.length === 1) { g.arc(s[0][0] * SIDE, s[0][1] * SIDE, WIDTH / 2, 0, 2 * Math.PI); g.fill(); } else g.stroke();
  }
  root.classList.toggle("pen-empty", state.strokes.length === 0);
}

const drawing = () => ({ strokes: state.strokes.map(s => s.map(([x, y]) => [Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4])) });

function clear() {
  state.strokes = []; state.current = null;
  paint();
  props.value = null;
  trigger("clear");
}

function pointAt(event) {
  const box = canvas.getBoundingClientRect();
  const f = (v) => Math.max(0, Math.min(1, v));
  return [f((event.clientX - box.left) / box.width), f((event.clientY - box.top) / box.height)];
}

canvas.addEventListener("pointerdown", (event) => {
  if (event.button !== 0) return;
  canvas.setPointerCapture(event.pointerId);
  state.current = [pointAt(event)];
  state.strokes.push(state.current);
  paint();
});
canvas.addEventListener("pointermove", (event) => {
  const s = state.current;
  if (!s) return;
  const p = pointAt(event), last = s[s.length - 1];
  if (Math.hypot(p[0] - last[0], p[1] - last[1]) < MIN_STEP) return;
  s.push(p);
  g.beginPath(); g.moveTo(last[0] * SIDE, last[1] * SIDE); g.lineTo(p[0] * SIDE, p[1] * SIDE); g.stroke();
  if (performance.now() - state.sent > SEND_MS) {  // the reconstruction follows the pen
    state.sent = performance.now();
    trigger("input", drawing());
  }
});
const lift = () => {
  if (!state.current) return;
  state.current = null;
  props.value = drawing();
};
canvas.addEventListener("pointerup", lift);
canvas.addEventListener("pointercancel", lift);
root.querySelector(".pen-undo").addEventListener("click", () => {
  if (state.current) return;
  state.strokes.pop();
  paint();
  if (state.strokes.length) props.value = drawing(); else clear();
});
root.querySelector(".pen-clear").addEventListener("click", clear);

// The server empties the pen (a test digit was picked): the canvas follows.
watch("value", () => {
  if (!props.value && !state.current && state.strokes.length) { state.strokes = []; paint(); }
});
paint();
// for the tests: the strokes as this page holds them
root.pen = { strokes: () => state.strokes };
