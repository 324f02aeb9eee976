"""The drawing surface: gr.Sketchpad set up so that drawing a digit feels immediate.

Kept apart from the models (it imports only Gradio) so the benchmark's no-op server uses the very
same input component.
"""

from typing import Any

import gradio as gr
from gradio.components.image_editor import EditorData
from gradio.data_classes import GradioRootModel
from pydantic import ValidationError


class _AnyPayload(GradioRootModel):
    root: Any


class DrawingPad(gr.Sketchpad):
    """gr.Sketchpad that answers a malformed payload or an unreadable image (sent through the API)
    with a clear message instead of a server-side traceback.

    Gradio validates a payload against the component's data model before `preprocess`, where an
    error can only be generic; this component accepts any payload there and validates it in
    `preprocess`, as `EditorData`, the sketchpad's own model.
    """

    data_model = _AnyPayload

    def get_block_name(self):
        return "imageeditor"  # the same front-end component as gr.Sketchpad

    def api_info(self):
        return EditorData.model_json_schema()

    def preprocess(self, payload):
        try:
            value = EditorData.model_validate(payload.root, context={"validate_meta": True})
        except ValidationError:
            raise gr.Error("Expected a sketchpad value: {'background': image or None, 'layers': [images], "
                           "'composite': image}.") from None
        try:
            return super().preprocess(value)
        except (OSError, ValueError, SyntaxError):  # what PIL raises for non-images and truncated files
            raise gr.Error("The drawing could not be read as an image: send a PNG, JPEG or WebP file.") from None


def drawing_pad():
    """A large square canvas, black ink on transparent, a digit-sized brush, no layers, no crop."""
    return DrawingPad(
        type="numpy", image_mode="RGBA", canvas_size=(800, 800), fixed_canvas=True, layers=False, transforms=(),
        format="png", brush=gr.Brush(default_size=36, colors=["#000000"], color_mode="fixed"),
        show_label=False, buttons=[], elem_id="sketchpad",
    )


# Gradio's sketchpad starts with no tool selected ("select the draw tool to start"), and drops the
# tool again when its canvas is cleared: select the brush (once the editor has drawn its toolbar).
_SELECT_BRUSH = """
const selectBrush = () => {
  const brush = document.querySelector('#sketchpad button[aria-label="Brush"]');
  if (!brush) { setTimeout(selectBrush, 100); return; }
  if (!brush.classList.contains('highlight')) { brush.click(); }
};
"""
ACTIVATE_BRUSH = "() => {" + _SELECT_BRUSH + "selectBrush(); }"
# The Clear button uses the editor's own "Clear canvas" (keeps the editor mounted), then re-arms the brush.
CLEAR_CANVAS = (
    "() => {" + _SELECT_BRUSH
    + """document.querySelector('#sketchpad button[aria-label="Clear canvas"]').click(); setTimeout(selectBrush, 50); }"""
)
