"""The drawing surface: gr.Sketchpad set up so that drawing a digit feels immediate.

Kept apart from the models (it imports only Gradio) so the benchmark's no-op server uses the very
same input component.
"""

import gradio as gr

from gradio.events import Dependency

class DrawingPad(gr.Sketchpad):
    """gr.Sketchpad that turns an unreadable upload (a broken file sent through the API) into a
    clear message instead of a server-side traceback."""

    def get_block_name(self):
        return "imageeditor"  # the same front-end component as gr.Sketchpad

    def preprocess(self, payload):
        try:
            return super().preprocess(payload)
        except (OSError, ValueError, SyntaxError):  # what PIL raises for non-images and truncated files
            raise gr.Error("The drawing could not be read as an image: send a PNG, JPEG or WebP file.") from None
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


def drawing_pad():
    """A large square canvas, black ink on transparent, a digit-sized brush, no layers, no crop."""
    return DrawingPad(
        type="numpy", image_mode="RGBA", canvas_size=(800, 800), fixed_canvas=True, layers=False, transforms=(),
        format="png", brush=gr.Brush(default_size=36, colors=["#000000"], color_mode="fixed"),
        show_label=False, buttons=[], elem_id="sketchpad", height=600, width=600,
    )


# Gradio's sketchpad starts with no tool selected ("select the draw tool to start"); pick the brush
# as soon as the page has loaded, so the first stroke draws.
ACTIVATE_BRUSH = """
() => {
  const pick = () => {
    const button = document.querySelector('#sketchpad button[aria-label="Brush"]');
    if (button) { button.click(); } else { setTimeout(pick, 100); }
  };
  pick();
}
"""