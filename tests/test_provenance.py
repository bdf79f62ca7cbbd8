"""Provenance of a result: package versions and a checkpoint's SHA-256, the latter checked
against hashlib over the same bytes (the sha256sum-style manifest of the module docstring)."""

import hashlib
import json

import numpy as np
import pytest

from gradcam.errors import UserError
from gradcam.evaluation.protocols import RISE
from gradcam.evaluation.provenance import (
    CHUNK,
    checkpoint_files,
    checkpoint_sha256,
    file_sha256,
    package_versions,
    provenance,
)


def manifest_digest(named_bytes):
    """SHA-256 of "<sha256 of the bytes>  <name>\\n" lines, names in byte order."""
    lines = "".join(
        f"{hashlib.sha256(data).hexdigest()}  {name}\n"
        for name, data in sorted(named_bytes.items())
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def test_slim_prefix_hashes_its_index_and_every_data_shard(tmp_path):
    parts = {
        "model.ckpt.index": write(tmp_path / "model.ckpt.index", b"index bytes"),
        "model.ckpt.data-00001-of-00002": write(
            tmp_path / "model.ckpt.data-00001-of-00002", b"second shard"
        ),
        "model.ckpt.data-00000-of-00002": write(
            tmp_path / "model.ckpt.data-00000-of-00002", b"first shard"
        ),
    }
    write(tmp_path / "model.ckpt.meta", b"graph, not weights")
    write(tmp_path / "model.ckpt-2.index", b"another checkpoint")
    write(tmp_path / "other.ckpt.data-00000-of-00001", b"another prefix")
    result = checkpoint_sha256(tmp_path / "model.ckpt")
    assert sorted(result["files"]) == sorted(parts)
    assert result["sha256"] == manifest_digest(parts)
    assert result["files"]["model.ckpt.index"] == hashlib.sha256(b"index bytes").hexdigest()
    # one changed byte in a shard changes the digest; moving the checkpoint does not
    write(tmp_path / "model.ckpt.data-00001-of-00002", b"second shard!")
    assert checkpoint_sha256(tmp_path / "model.ckpt")["sha256"] != result["sha256"]
    write(tmp_path / "model.ckpt.data-00001-of-00002", b"second shard")
    (tmp_path / "moved").mkdir()
    for name in parts:
        (tmp_path / name).rename(tmp_path / "moved" / name)
    assert checkpoint_sha256(tmp_path / "moved" / "model.ckpt")["sha256"] == result["sha256"]


def test_prefix_with_glob_characters(tmp_path):
    shard = "run[1]*.ckpt.data-00000-of-00001"
    parts = {
        "run[1]*.ckpt.index": write(tmp_path / "run[1]*.ckpt.index", b"i"),
        shard: write(tmp_path / shard, b"d"),
    }
    write(tmp_path / "run1x.ckpt.data-00000-of-00001", b"not this one")
    assert checkpoint_sha256(tmp_path / "run[1]*.ckpt")["sha256"] == manifest_digest(parts)


def test_large_files_are_streamed_and_hashed_whole(tmp_path):
    data = np.random.default_rng(0).integers(0, 256, 2 * CHUNK + 12345, np.uint8).tobytes()
    path = tmp_path / "weights.h5"
    write(path, data)
    assert file_sha256(path) == hashlib.sha256(data).hexdigest()
    assert checkpoint_sha256(path)["sha256"] == manifest_digest({"weights.h5": data})


def test_directory_hashes_every_file_by_relative_path(tmp_path):
    parts = {
        "saved_model.pb": write(tmp_path / "m" / "saved_model.pb", b"graph"),
        "variables/variables.index": write(
            tmp_path / "m" / "variables" / "variables.index", b"idx"
        ),
    }
    assert [name for name, _ in checkpoint_files(tmp_path / "m")] == sorted(parts)
    assert checkpoint_sha256(tmp_path / "m")["sha256"] == manifest_digest(parts)
    (tmp_path / "empty").mkdir()
    for folder, expected in (("empty", "holds no file"), ("nope", "not found")):
        with pytest.raises(UserError, match=expected):
            checkpoint_sha256(tmp_path / folder)


def test_package_versions_and_the_provenance_record(tmp_path):
    versions = package_versions(("numpy", "scipy", "no-such-distribution-xyz"))
    assert versions["numpy"] == np.__version__
    assert versions["no-such-distribution-xyz"] is None
    write(tmp_path / "w.bin", b"weights")
    record = json.loads(json.dumps(provenance(tmp_path / "w.bin", seed=7, protocol=RISE)))
    assert record["seed"] == 7 and record["protocol"]["name"] == "rise"
    assert record["checkpoint"]["sha256"] == manifest_digest({"w.bin": b"weights"})
    assert record["packages"]["numpy"] == np.__version__ and "tensorflow" in record["packages"]
    assert provenance()["checkpoint"] is None
