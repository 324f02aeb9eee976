"""`python app.py` fails fast, naming the file, when a weight file is missing or damaged."""

import os
import shutil
import subprocess
import sys

import pytest

from digitpad.catalog import MODEL_NAMES
from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # starts `python app.py`


def start_app(weights_dir):
    env = {**os.environ, "DIGITPAD_WEIGHTS": str(weights_dir), "GRADIO_SERVER_PORT": "1"}
    return subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("damage", ["missing", "corrupted"])
def test_bad_weights_stop_the_app_with_the_file_name(tmp_path, damage):
    for key in MODEL_NAMES:
        shutil.copy(ROOT / "weights" / f"{key}.keras", tmp_path)
    if damage == "missing":
        (tmp_path / "mlp.keras").unlink()
    else:
        (tmp_path / "mlp.keras").write_bytes(b"\x00" * 100)
    result = start_app(tmp_path)
    assert result.returncode == 1
    assert "DigitPad cannot start" in result.stderr and "mlp.keras" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_page_is_built_without_tensorflow():
    # What makes the cold start short: the page needs neither TensorFlow nor matplotlib (they load
    # in the background). Here they cannot be imported at all, and the page is still built.
    code = ("import sys; sys.modules.update(tensorflow=None, keras=None, matplotlib=None); "
            "from digitpad import ui; ui.build_demo(); print('built')")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "built"
