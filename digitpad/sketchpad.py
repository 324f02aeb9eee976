"""The drawing surface: gr.Sketchpad set up so that drawing a digit feels immediate.

Kept apart from the models (it imports only Gradio) so the benchmark's no-op server uses the very
same input component.
"""

import copy
import functools
import io
from typing import Any

import gradio as gr
from gradio.components.base import server
from gradio.components.image_editor import AcceptBlobs, EditorData
from gradio.data_classes import FileData, GradioRootModel
from PIL import Image
from pydantic import ValidationError

from digitpad.drawn import CANVAS
from digitpad.preprocess import MAX_SIDE, DrawingError, check_size

FORMATS = ("PNG", "JPEG", "WEBP")  # what a browser's canvas exports; anything else is refused unread
BRUSH_SIZE = round(CANVAS * 36 / 800)  # the look of a 36 px brush on the old 800 px canvas
MAX_PENDING_BLOBS = 64  # drawings uploaded by the editor and not yet read: older ones are dropped


class _AnyPayload(GradioRootModel):
    root: Any


def check_image_file(source):
    """Raise gr.Error unless `source` (a path or bytes) is a PNG, JPEG or WebP of a sane size.

    Reads only the file's header (Pillow opens lazily): a 30 KB file that would decode to
    12000x12000 pixels is refused in well under a millisecond, with no pixel buffer allocated.
    """
    file = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    try:
        with file, Image.open(file, formats=FORMATS) as image:
            check_size(*image.size)
    except DrawingError as error:
        raise gr.Error(str(error)) from None
    except Image.DecompressionBombError:  # Pillow's own guard, above 179 Mpx: say the size all the same
        raise gr.Error(str(_size_error(source))) from None
    except (OSError, ValueError, SyntaxError):  # what PIL raises for non-images and damaged headers
        raise gr.Error("The drawing could not be read as an image: send a PNG, JPEG or WebP file.") from None


def _size_error(source):
    """The DrawingError naming the size of an image Pillow's Image.open refuses to open: its format's
    own reader parses the header without that check."""
    file = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else open(source, "rb")
    with file:
        head = file.read(16)
        file.seek(0)
        for name in FORMATS:
            reader, accepts = Image.OPEN[name]
            if accepts is None or accepts(head):
                with reader(file) as image:
                    try:
                        check_size(*image.size)
                    except DrawingError as error:
                        return error
    return DrawingError(f"The image is too large to read: DigitPad accepts at most {MAX_SIDE}x{MAX_SIDE} px.")


class CheckedSketchpad(gr.Sketchpad):
    """gr.Sketchpad that answers a malformed payload, an unreadable image or an oversized one (sent
    through the API) with a clear message instead of a server-side traceback.

    Gradio validates a payload against the component's data model before `preprocess`, where an
    error can only be generic; this component accepts any payload there and validates it in
    `preprocess`, as `EditorData`, the sketchpad's own model. Every image is checked from its
    header before Gradio decodes it (`check_image_file`).
    """

    data_model = _AnyPayload

    def convert_and_format_image(self, file, flatten_on_white=False):
        if file is not None:
            check_image_file(file.path if isinstance(file, FileData) else file)
        return super().convert_and_format_image(file, flatten_on_white)

    @server
    def accept_blobs(self, data: AcceptBlobs):
        """The editor's upload of a drawing, checked from its header and kept only until it is read;
        a client may upload and never ask, so the oldest pending drawings beyond a few are dropped."""
        check_image_file(data.files[0][1])
        super().accept_blobs(data)
        while len(self.blob_storage) > MAX_PENDING_BLOBS:
            del self.blob_storage[next(iter(self.blob_storage))]

    def get_block_name(self):
        return "imageeditor"  # the same front-end component as gr.Sketchpad

    def api_info(self):
        # Gradio asks for every new visit's session state (and each /config): pydantic's schema
        # generation was half of a new visit's cost on the server's event loop, so it is made once.
        return copy.deepcopy(_editor_schema())

    def preprocess(self, payload):
        try:
            value = EditorData.model_validate(payload.root, context={"validate_meta": True})
        except ValidationError:
            raise gr.Error("Expected a sketchpad value: {'background': image or None, 'layers': [images], "
                           "'composite': image}.") from None
        try:
            return super().preprocess(value)
        except gr.Error:  # our own message (a ValueError too): as it is
            raise
        except Image.DecompressionBombError as error:  # past our header check: should not happen, but say so
            raise gr.Error(f"The image is too large to read ({error}).") from None
        except (OSError, ValueError, SyntaxError):  # what PIL raises for truncated files, past the header
            raise gr.Error("The drawing could not be read as an image: send a PNG, JPEG or WebP file.") from None


def drawing_pad(**kwargs):
    """A square canvas, black ink on transparent, a digit-sized brush, no layers, no crop.

    CANVAS px a side, shown as large as the column allows: the editor's export, the upload and the
    decoding after each stroke grow with its pixel count (in headless Chromium on a 2-core machine a
    do-nothing app with this pad answered real multi-stroke digits in 1.01 s at 280 px, 1.19 s at
    400), and to_mnist brings any size down to 28x28 anyway.
    """
    return CheckedSketchpad(
        type="numpy", image_mode="RGBA", canvas_size=(CANVAS, CANVAS), fixed_canvas=True, layers=False, transforms=(),
        format="png", brush=gr.Brush(default_size=BRUSH_SIZE, colors=["#000000"], color_mode="fixed"),
        show_label=False, buttons=[], **{"elem_id": "sketchpad", **kwargs},
    )


@functools.cache
def _editor_schema():
    return EditorData.model_json_schema()
