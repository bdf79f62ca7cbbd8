"""Model files and checkpoint prefixes named by an http:// URL (``gradcam.remote``), served from a
folder on 127.0.0.1 for the test: fetched once into the cache and measured, a matching cached copy
used with the server gone, a changed file and a missing one refused in one line."""

import hashlib
import os
from pathlib import Path

import pytest

from gradcam import remote
from gradcam.errors import UserError


def test_a_model_file_url_is_fetched_measured_and_cached(http_mirror, tmp_path, monkeypatch):
    folder, base = http_mirror
    monkeypatch.setenv("GRADCAM_HOME", str(tmp_path / "home"))
    body = os.urandom(3 << 20)
    (folder / "net.keras").write_bytes(body)
    url = f"{base}/net.keras"
    fetched = remote.fetch(url)
    assert (fetched.size, fetched.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert Path(fetched.path).read_bytes() == body and Path(fetched.path).name == "net.keras"
    (folder / "net.keras").write_bytes(body[::-1])  # changed on the server
    cached = remote.fetch(url, size=fetched.size, sha256=fetched.sha256)
    assert Path(cached.path).read_bytes() == body  # the matching copy, not fetched again
    Path(fetched.path).write_bytes(b"damaged")  # fetched again, and now it has changed
    with pytest.raises(UserError, match="changed since the run started"):
        remote.fetch(url, size=fetched.size, sha256=fetched.sha256)
    assert not remote.cache_folder(url).exists()
    assert not [p for p in (tmp_path / "home").rglob("*.part")]


def test_a_checkpoint_prefix_url_fetches_its_index_and_data(http_mirror, tmp_path, monkeypatch):
    folder, base = http_mirror
    monkeypatch.setenv("GRADCAM_HOME", str(tmp_path / "home"))
    parts = {
        "model.ckpt.index": os.urandom(1000),
        "model.ckpt.data-00000-of-00001": os.urandom(5000),
    }
    for name, data in parts.items():
        (folder / name).write_bytes(data)
    fetched = remote.fetch(f"{base}/model.ckpt", checkpoint=True)
    joined = b"".join(parts[name] for name in sorted(parts))
    assert (fetched.size, fetched.sha256) == (len(joined), hashlib.sha256(joined).hexdigest())
    assert Path(fetched.path).name == "model.ckpt"
    for name, data in parts.items():
        assert (Path(fetched.path).parent / name).read_bytes() == data


def test_a_missing_url_is_one_line_and_leaves_no_partial_file(http_mirror, tmp_path, monkeypatch):
    _, base = http_mirror
    monkeypatch.setenv("GRADCAM_HOME", str(tmp_path / "home"))
    with pytest.raises(UserError) as caught:
        remote.fetch(f"{base}/absent.keras")
    message = str(caught.value)
    assert message.startswith(f"cannot fetch {base}/absent.keras") and "404" in message
    assert "\n" not in message
    assert not [p for p in (tmp_path / "home").rglob("*") if p.is_file()]
