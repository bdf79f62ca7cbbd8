"""Shared fixtures: the embedded model (built once per session), real photos, random Slim checkpoints."""

import functools
import http.server
import threading

import numpy as np
import pytest
from PIL import Image

from gradcam.cli import main
from gradcam.model import Model
from nets.nets_factory import NETWORKS
from nets.tf_compat import tf  # TF in graph mode before anything else

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")


def photo(name):
    """An RGB uint8 photo shipped with scikit-image (chelsea = cat, coffee = espresso, ...)."""
    import skimage.data

    if name == "motorcycle":
        return skimage.data.stereo_motorcycle()[0]
    return getattr(skimage.data, name)()


def make_random_checkpoint(network, directory, num_classes=None, seed=0):
    """Save randomly initialised weights of a registered network under its real Slim names."""
    spec = NETWORKS[network]
    with tf.Graph().as_default() as graph:
        tf.set_random_seed(seed)
        images = tf.placeholder(tf.float32, [None, spec.image_size, spec.image_size, 3])
        spec.build(images, num_classes)
        with tf.Session(graph=graph) as session:
            session.run(tf.global_variables_initializer())
            rng = np.random.default_rng(seed)
            for var in tf.global_variables():  # non-trivial BN statistics, so restore is visible
                if "moving_variance" in var.name:
                    var.load(rng.uniform(0.5, 1.5, var.shape.as_list()).astype(np.float32), session)
                elif "moving_mean" in var.name or "beta" in var.name:
                    var.load(rng.normal(0, 0.1, var.shape.as_list()).astype(np.float32), session)
            return tf.train.Saver().save(session, str(directory / f"{network}.ckpt"))


@pytest.fixture(scope="session")
def lite0():
    """The embedded EfficientNet-Lite0 with its converted ImageNet weights (one per session)."""
    model = Model("efficientnet_lite0")
    yield model
    model.close()


@pytest.fixture(scope="session")
def cat_input(lite0):
    return lite0.prepare(photo("chelsea"))


@pytest.fixture(scope="session")
def coffee_input(lite0):
    return lite0.prepare(photo("coffee"))


@pytest.fixture(scope="session")
def coffee_png(tmp_path_factory, coffee_input):
    """The coffee photo as the network sees it, saved as a PNG file."""
    path = tmp_path_factory.mktemp("coffee") / "coffee.png"
    Image.fromarray(coffee_input).save(path)
    return path


@pytest.fixture(scope="session")
def cli(lite0):
    """``gradcam.cli.main`` whose commands use the session's lite0 (building another is slow),
    through its ``load_model`` seam; the model flags are still parsed and checked."""
    return functools.partial(main, load_model=lambda args: lite0)


def smoke_options(method, scoped=False):
    """A method's registered smoke options as --option arguments (METHOD.KEY=VALUE if scoped)."""
    from gradcam.methods import METHODS

    prefix = f"{method}." if scoped else ""
    return [
        a
        for key, value in METHODS[method].smoke.items()
        for a in ("--option", f"{prefix}{key}={value!r}")
    ]


@pytest.fixture
def http_mirror(tmp_path):
    """A folder served over HTTP on 127.0.0.1 (an ephemeral port) for the test's duration."""
    folder = tmp_path / "mirror"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()
