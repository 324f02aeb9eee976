"""Hostile uploads are refused from their headers, fast, with a message naming the problem; the server
keeps serving. And the promised public names stay importable."""

import time

import gradio as gr
import numpy as np
import pytest
from gradio_client import Client, handle_file
from PIL import Image

from benchmarks import hostile
from digitpad import drawn
from digitpad.preprocess import DrawingError, to_mnist
from digitpad.sketchpad import check_image_file

SIZE_BOMBS = ["png 12000x12000", "png 20000x20000", "jpeg 30000x30000 header", "webp 16000x8", "png 1x100000",
              "png 100000x1"]


@pytest.mark.parametrize("name", SIZE_BOMBS)
def test_oversized_images_are_refused_from_the_header(name):
    _, make = hostile.HOSTILE_FILES[name]
    data = make()
    width, height = name.split()[1].split("x")
    start = time.perf_counter()
    with pytest.raises(gr.Error, match=f"{width}x{height} px.*at most 4096x4096"):
        check_image_file(data)
    assert time.perf_counter() - start < 0.05  # no pixel is decoded


@pytest.mark.parametrize("name", ["png with an 8 MB text chunk", "gif named .png"])
def test_unreadable_or_foreign_files_get_a_clear_message(name):
    _, make = hostile.HOSTILE_FILES[name]
    with pytest.raises(gr.Error, match="could not be read as an image: send a PNG, JPEG or WebP"):
        check_image_file(make())


def test_a_png_named_jpg_is_read_by_its_content(tmp_path, digits):
    path = tmp_path / "drawing.jpg"  # the extension lies, the content is a good PNG
    drawn.draw(digits[2], brush=10, height=0.6).save(path, "PNG")
    check_image_file(str(path))


def test_arrays_and_pil_images_are_bounded_too():
    with pytest.raises(DrawingError, match="5000x10 px"):
        to_mnist(np.zeros((10, 5000), np.uint8))
    lazy = Image.open(__import__("io").BytesIO(hostile.png_bomb(12000, 12000)))  # not decoded yet
    with pytest.raises(DrawingError, match="12000x12000"):
        to_mnist(lazy)


@pytest.fixture(scope="module")
def client(app_url):  # the tests that use it start the app's server
    return Client(app_url, verbose=False)


@pytest.mark.slow
@pytest.mark.parametrize("name", SIZE_BOMBS[:3])
def test_the_app_refuses_bombs_fast_and_keeps_serving(client, tmp_path, digits, name):
    filename, make = hostile.HOSTILE_FILES[name]
    path = tmp_path / filename
    path.write_bytes(make())
    payload = {"background": None, "layers": [], "composite": handle_file(str(path))}
    start = time.perf_counter()
    with pytest.raises(Exception, match="accepts at most 4096x4096"):
        client.predict(payload, api_name="/predict")
    assert time.perf_counter() - start < 2.0  # loose here (a shared CI machine); hostile.py measures it
    honest = tmp_path / "seven.png"
    drawn.draw(digits[7], brush=10, height=0.6).save(honest)
    answer = client.predict({"background": None, "layers": [], "composite": handle_file(str(honest))},
                            api_name="/predict")
    assert answer[4]["label"] == "7"


def test_model_names_are_importable_from_models_too():
    from digitpad import catalog, models
    from digitpad.models import MODEL_NAMES

    assert MODEL_NAMES is catalog.MODEL_NAMES is models.MODEL_NAMES
