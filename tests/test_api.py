"""The `predict` endpoint, called with gradio_client against the app launched on localhost."""

import pytest
from gradio_client import Client, handle_file

from digitpad import drawn


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def drawing(digits, digit, path):
    drawn.draw(digits[digit], brush=10, height=0.6, place=(0.3, 0.6)).save(path)
    return {"background": None, "layers": [], "composite": handle_file(str(path))}


def test_predict_endpoint(client, digits, tmp_path):
    result = client.predict(drawing(digits, 5, tmp_path / "five.png"), api_name="/predict")
    panels, verdict = result[:5], result[5]
    assert all(panel["label"] == "5" for panel in panels[3:])  # both CNNs
    assert len(panels) == 5 and all(len(panel["confidences"]) == 10 for panel in panels)
    assert "5" in verdict


def test_bad_input_gets_a_message_and_the_server_keeps_serving(client, digits, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    png = tmp_path / "cut.png"
    drawn.draw(digits[3], brush=10, height=0.6).save(png)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(png.read_bytes()[:400])
    for bad in (text, truncated):
        with pytest.raises(Exception, match="could not be read as an image"):
            client.predict({"background": None, "layers": [], "composite": handle_file(str(bad))}, api_name="/predict")
    for wrong in ("hello", [1, 2, 3], {"composite": "not a file"}):
        with pytest.raises(Exception, match="Expected a sketchpad value"):
            client.predict(wrong, api_name="/predict")
    assert "Draw a digit" in client.predict({"unknown": "keys"}, api_name="/predict")[5]
    result = client.predict(drawing(digits, 3, tmp_path / "three.png"), api_name="/predict")
    assert result[4]["label"] == "3"
