"""DigitPad's drawing pad: a canvas of its own (a Gradio custom HTML component) whose value is strokes.

Why not `gr.Sketchpad`: after every stroke it exports background, layer and composite as PNGs and
uploads each before the drawing is read, so a visitor waited about 2 s after lifting the mouse for
a reading that takes milliseconds. This pad draws locally at the screen's frame rate with pointer
events (mouse, touch and pen alike) and sends only its strokes, a few kilobytes of JSON:

    {"strokes": [[[x, y], ...], ...], "width": 280, "height": 280, "live": false, "seq": 7}

in canvas units (PAD_SIDE a side, whatever its size on screen; y points down). It sends them on
each pointer-up as the data of its `change` event and, while a stroke is in progress ("live": true),
at most every SEND_EVERY ms as the data of its `input` event, so that the views follow the pen. Two
events, because Gradio keeps one request of an event in flight: a lifted pen's drawing, sent as the
other event, never waits for a live one's answer to come back first (a round trip, on a phone's
link). As event data, not as the component's value: setting `props.value` took the strokes through
Gradio's front end (the component's state, its re-render) before the request left, 8-10 ms of the
browser's main thread after each mouse-up here, against 2 ms for event data. The pad's value (what
an API caller of `predict_strokes` sends) stays the strokes' format; the page itself leaves it empty.
`seq` numbers the values the pad sends, so that a live drawing held back while another was in
flight, and sent after the pen lifted, is known as older. `preprocess.read_strokes` reads the strokes.
A drawing holds at most one point more than `preprocess.MAX_POINTS`, so that the server names the
limit (a longer one would pass the server's body limit and be refused unread).

Imports only Gradio and the pad's constants, so the benchmarks' no-op apps use the very same pad.
"""

import html
import json

import gradio as gr

from digitpad.preprocess import BRUSH, MAX_POINTS, PAD_SIDE

SEND_EVERY = 100  # ms between the strokes sent while the pen moves: the views follow it ~10 times a second
EMPTY = {"strokes": [], "width": PAD_SIDE, "height": PAD_SIDE}
EXAMPLE_EVENT = "digitpad-example"  # the document event an example's click sends to the pad
CLEAR_PAD = "() => { document.querySelector('#sketchpad .pad-clear').click(); }"  # an event's js: clear it

_TEMPLATE = """
<div class="pad">
  <canvas aria-label="Drawing pad: draw a digit"></canvas>
  <div class="pad-tools">
    <button type="button" class="pad-undo" id="undo" title="Undo the last stroke">↶ Undo</button>
    <button type="button" class="pad-clear" id="clear" title="Clear the pad">Clear</button>
  </div>
</div>
"""

_CSS = """
.pad { position: relative; width: 100%; max-width: 600px; margin: 0 auto; }
canvas { display: block; width: 100%; aspect-ratio: 1 / 1; background: #fff; cursor: crosshair;
         border: 1px solid var(--border-color-primary); border-radius: var(--block-radius);
         touch-action: none; user-select: none; -webkit-user-select: none; }
.pad-tools { position: absolute; top: 8px; right: 8px; display: flex; gap: 6px; }
.pad-tools button { font-size: 0.85rem; padding: 3px 10px; border-radius: 6px; cursor: pointer;
                    background: var(--button-secondary-background-fill); color: var(--body-text-color);
                    border: 1px solid var(--border-color-primary); }
"""

# Runs once when the pad is mounted. `trigger(event, strokes)` sends the strokes as the event's data;
# `watch('value')` redraws a value the server would set.
_JS = """
const canvas = element.querySelector('canvas');
const context = canvas.getContext('2d');
const SIDE = %(side)s, BRUSH = %(brush)s, SEND_EVERY = %(send_every)s, MAX_POINTS = %(max_points)s;
let strokes = (props.value && props.value.strokes) || [];
let current = null, lastSent = 0, timer = null, sends = 0, box = null, room = 0;

const scale = () => canvas.width / SIDE;
function line(points, from) {
  const k = scale();
  context.lineCap = 'round'; context.lineJoin = 'round';
  context.lineWidth = BRUSH * k; context.strokeStyle = context.fillStyle = '#000';
  if (points.length === 1) {
    context.beginPath(); context.arc(points[0][0] * k, points[0][1] * k, BRUSH * k / 2, 0, 2 * Math.PI);
    context.fill(); return;
  }
  context.beginPath();
  const start = Math.max(0, from - 1);
  context.moveTo(points[start][0] * k, points[start][1] * k);
  for (let i = start + 1; i < points.length; i++) context.lineTo(points[i][0] * k, points[i][1] * k);
  context.stroke();
}
function redraw() {
  context.clearRect(0, 0, canvas.width, canvas.height);
  for (const stroke of strokes) line(stroke, 0);
  if (current) line(current, 0);
}
function fit() {  // the bitmap follows the canvas' size on screen, at the screen's pixel density
  const pixels = Math.round(canvas.getBoundingClientRect().width * (window.devicePixelRatio || 1));
  if (pixels > 0 && canvas.width !== pixels) { canvas.width = canvas.height = pixels; redraw(); }
}
new ResizeObserver(fit).observe(canvas);
fit();

// Each event's data is one object, its contents replaced on every send. Gradio holds back an event
// triggered while its request is in flight (always_last) and then sends it again with the data the
// event in flight was triggered with: that object, so it carries the newest strokes, not old ones.
const outgoing = {input: {}, change: {}};
function send() {
  clearTimeout(timer); timer = null; lastSent = performance.now();
  const sent = current ? [...strokes, current.slice()] : strokes.slice();
  canvas.dataset.points = sent.reduce((total, stroke) => total + stroke.length, 0);  // which drawing was sent
  const name = current ? 'input' : 'change';  // the pen down, or lifted: the strokes as the event's data
  trigger(name, Object.assign(outgoing[name], {strokes: sent, width: SIDE, height: SIDE, live: current !== null,
                                               seq: ++sends}));  // seq: its order
}
function point(event) {  // `box`: the canvas on screen, measured once a stroke (each measure forces a layout)
  const unit = v => Math.round(Math.min(SIDE, Math.max(0, v)) * 10) / 10;
  return [unit((event.clientX - box.left) / box.width * SIDE), unit((event.clientY - box.top) / box.height * SIDE)];
}
canvas.addEventListener('pointerdown', event => {
  if (!event.isPrimary || event.button > 0) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  // A drawing holds at most one point more than the server reads: it is then answered with the limit
  // by name, where a longer one would be a body past the server's size limit, refused unread.
  room = MAX_POINTS + 1 - strokes.reduce((total, stroke) => total + stroke.length, 0);
  if (room <= 0) return;
  box = canvas.getBoundingClientRect();
  current = [point(event)];
  line(current, 0);
});
canvas.addEventListener('pointermove', event => {
  if (!current || !event.isPrimary) return;
  const from = current.length;
  for (const each of (event.getCoalescedEvents ? event.getCoalescedEvents() : []).concat([event])) {
    const [x, y] = point(each), [px, py] = current[current.length - 1];
    if (Math.abs(x - px) + Math.abs(y - py) >= 0.5 && current.length < room) current.push([x, y]);
  }
  if (current.length === from) return;
  line(current, from);
  const wait = SEND_EVERY - (performance.now() - lastSent);
  if (wait <= 0) send(); else if (!timer) timer = setTimeout(send, wait);
});
const finish = event => {
  if (!current || !event.isPrimary) return;
  strokes.push(current); current = null; send();
};
canvas.addEventListener('pointerup', finish);
canvas.addEventListener('pointercancel', finish);
element.querySelector('.pad-undo').addEventListener('click', () => { strokes.pop(); redraw(); send(); });
element.querySelector('.pad-clear').addEventListener('click', () => { strokes = []; current = null; redraw(); send(); });
document.addEventListener('%(example_event)s', event => {
  strokes = event.detail.strokes.map(stroke => stroke.slice()); current = null; redraw(); send();
});
watch('value', () => {
  strokes = ((props.value && props.value.strokes) || []).map(stroke => stroke.slice()); current = null; redraw();
});
canvas.dataset.ready = 'true';  // listening: drawings and examples reach it from now on
""" % {"side": PAD_SIDE, "brush": BRUSH * PAD_SIDE, "send_every": SEND_EVERY, "max_points": MAX_POINTS,
       "example_event": EXAMPLE_EVENT}


class DrawingPad(gr.HTML):
    """The pad: a square canvas, a round black brush, Undo and Clear; its value is the strokes."""

    def __init__(self, value=None, **kwargs):
        kwargs.setdefault("elem_id", "sketchpad")
        kwargs.setdefault("padding", False)  # the canvas as wide as the column, on a phone too
        super().__init__(value=value or EMPTY, html_template=_TEMPLATE, css_template=_CSS, js_on_load=_JS,
                         apply_default_css=False, **kwargs)

    def preprocess(self, payload):
        """The strokes as sent: checked (limits, types) by `preprocess.check_strokes` where they are read."""
        return payload

    def postprocess(self, value):
        return value

    def api_info(self):
        point = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
        return {"type": "object", "properties": {
            "strokes": {"type": "array", "items": {"type": "array", "items": point},
                        "description": "pen strokes, each a list of [x, y] points in canvas units"},
            "width": {"type": "number"}, "height": {"type": "number"}}, "required": ["strokes"]}

    def example_payload(self):
        return {"strokes": [[[140, 60], [140, 220]]], "width": PAD_SIDE, "height": PAD_SIDE}

    def example_value(self):
        return self.example_payload()


def thumbnail_svg(value, size=56):
    """A small SVG of a pad value's strokes (an example's button face): no image to fetch."""
    side = max(value.get("width", PAD_SIDE), value.get("height", PAD_SIDE))
    paths = "".join(
        f"<polyline points='{' '.join(f'{x:g},{y:g}' for x, y in stroke)}'/>" for stroke in value["strokes"])
    return (f"<svg viewBox='0 0 {side:g} {side:g}' width='{size}' height='{size}' fill='none' stroke='#000' "
            f"stroke-width='{BRUSH * side * 1.3:g}' stroke-linecap='round' stroke-linejoin='round'>{paths}</svg>")


def example_strip(examples, label, **kwargs):
    """Buttons that draw an example's strokes on the pad (in the browser, which then sends them like a
    drawing). `examples`: [(pad value, caption)]."""
    buttons = "".join(
        f"<button type='button' class='pad-example' data-index='{i}' title='{html.escape(caption, quote=True)}' "
        f"aria-label='{html.escape(caption, quote=True)}'>"
        f"{thumbnail_svg(value)}</button>" for i, (value, caption) in enumerate(examples))
    strokes = json.dumps([value for value, _ in examples], separators=(",", ":"))
    js = """
const examples = JSON.parse(element.querySelector('.examples').dataset.strokes);
element.querySelectorAll('.pad-example').forEach(button => button.addEventListener('click', () =>
  document.dispatchEvent(new CustomEvent('%s', {detail: examples[+button.dataset.index]}))));
element.querySelector('.examples').dataset.ready = 'true';
""" % EXAMPLE_EVENT
    return gr.HTML(f"<div class='examples' data-strokes='{html.escape(strokes, quote=True)}'>"
                   f"<p class='examples-label'>{html.escape(label)}</p><div class='example-buttons'>{buttons}</div></div>",
                   js_on_load=js, **kwargs)
