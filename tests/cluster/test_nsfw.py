"""--enable-nsfw-censor: the bundled open_nsfw classifier on a real photo (scikit-image's astronaut) and on tiny-model
outputs; the censor path with a threshold that forces it."""
from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from skimage import data

from modules.safety.nsfw import NsfwCensor, censored
from tests.cluster.helpers import SMALL, scrape, value
from tests.inprocess import InProcessServer
from tests.support import make_data_dir, png_b64


@pytest.fixture(scope="module")
def astronaut() -> Image.Image:
    return Image.fromarray(data.astronaut())


@pytest.fixture(scope="module")
def classifier() -> NsfwCensor:
    return NsfwCensor(threshold=0.8, method="blur")


def test_the_classifier_scores_a_real_photo_as_safe(classifier, astronaut):
    score = classifier.score(astronaut)
    assert 0.0 < score < 0.2  # a clothed astronaut: open_nsfw gives about 0.03
    images, texts = [astronaut], ["a photo, Seed: 1"]
    [verdict] = classifier.apply(images, texts)
    assert not verdict.censored and images[0] is astronaut and texts == ["a photo, Seed: 1"]


def test_forced_threshold_censors_and_says_so(astronaut):
    events = []
    censor = NsfwCensor(threshold=0.0, method="blur")
    censor.on_censored.append(events.append)
    images, texts = [astronaut], ["a photo, Seed: 1"]
    [verdict] = censor.apply(images, texts)
    assert verdict.censored and events == ["open_nsfw"]
    assert images[0] is not astronaut and images[0].size == astronaut.size
    assert texts[0].startswith("a photo, Seed: 1, NSFW censor: blur, NSFW score: ")
    original = np.asarray(astronaut, dtype=np.float32)
    blurred = np.asarray(images[0], dtype=np.float32)
    assert np.abs(blurred - original).mean() > 10  # not the picture any more
    assert np.abs(np.diff(blurred, axis=1)).mean() < np.abs(np.diff(original, axis=1)).mean() / 4  # no detail
    black = np.asarray(censored(astronaut, "black"))
    assert black.shape == original.shape and black.max() == 0


@pytest.fixture(scope="module")
def censor_server(tmp_path_factory):
    data_dir = make_data_dir(tmp_path_factory.mktemp("nsfw"), {"tiny-a.safetensors": 0})
    server = InProcessServer(data_dir, "--ckpt", "tiny-a", "--enable-nsfw-censor", "--nsfw-threshold", "0",
                             "--nsfw-censor-method", "black").start()
    yield server
    server.stop()


def _image(b64: str) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(b64))).convert("RGB"))


def test_censored_outputs_are_replaced_before_they_are_returned(censor_server, astronaut):
    with censor_server.client() as client:
        before = scrape(client)
        response = client.post("/sdapi/v1/txt2img", json={**SMALL, "seed": 3, "batch_size": 2})
        assert response.status_code == 200, response.text
        body = response.json()
        info = json.loads(body["info"])
        assert all(_image(b64).max() == 0 for b64 in body["images"])
        assert info["nsfw_censored"] == [True, True]
        assert all(0.0 <= s <= 1.0 for s in info["nsfw_scores"])  # the tiny model's outputs were scored
        assert all("NSFW censor: black" in text for text in info["infotexts"])
        png = client.post("/sdapi/v1/png-info", json={"image": body["images"][0]}).json()
        assert "NSFW censor: black" in png["info"]  # the stored file's infotext says so too

        extras = client.post("/sdapi/v1/extra-single-image", json={"image": png_b64(astronaut.resize((64, 64))),
                                                                   "upscaling_resize": 1})
        assert extras.status_code == 200, extras.text
        assert _image(extras.json()["image"]).max() == 0 and "NSFW censor" in extras.json()["html_info"]
        after = scrape(client)
        assert value(after, "easel_safety_events_total", event="nsfw_censored", rule="open_nsfw") == \
            value(before, "easel_safety_events_total", event="nsfw_censored", rule="open_nsfw") + 3
