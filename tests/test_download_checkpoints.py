"""`gradcam download` (gradcam/download.py) offline: tarballs built here from a small random
checkpoint and served through file:// URLs or a 127.0.0.1 HTTP server started here; unsafe or wrong
tarballs are refused and leave nothing behind."""

import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

import gradcam.download
from gradcam.cli import main
from gradcam.errors import UserError
from nets.tf_compat import tf

from scripts_helper import script as load_script

NAME = "resnet_v2_50"  # any network with a download_url; its checkpoint file is resnet_v2_50.ckpt


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A small random V2 checkpoint saved as resnet_v2_50.ckpt; returns (directory, values)."""
    directory = tmp_path_factory.mktemp("source")
    values = {
        "resnet_v2_50/conv1/weights": np.random.default_rng(0).normal(size=(3, 3, 3, 4)),
        "resnet_v2_50/logits/biases": np.random.default_rng(1).normal(size=(7,)),
    }
    with tf.Graph().as_default():
        variables = [tf.Variable(v.astype(np.float32), name=k) for k, v in values.items()]
        with tf.Session() as session:
            session.run(tf.global_variables_initializer())
            tf.train.Saver(variables).save(
                session, str(directory / f"{NAME}.ckpt"), write_meta_graph=False, write_state=False
            )
    return directory, values


def make_tarball(path, files=(), extra=()):
    """gzip tar of real ``files`` (stored as ./<name>) plus ``extra`` (TarInfo, data) members."""
    with tarfile.open(path, "w:gz") as tar:
        for file in files:
            tar.add(file, arcname=f"./{file.name}")
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def member(name, data=b"x", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def good_tarball(checkpoint, directory):
    source, _ = checkpoint
    return make_tarball(
        directory / f"{NAME}_2017_04_14.tar.gz",
        sorted(source.iterdir()),
        [member("eval.graph", b"not needed")],
    )


def run(capsys, *argv):
    """``gradcam download ARGV``: (exit status, stdout, stderr)."""
    status = main(["download", *argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def leftovers(directory):
    return sorted(p.name for p in Path(directory).rglob(".*"))


def test_install_verify_and_record_digest(checkpoint, tmp_path, capsys):
    tarball = good_tarball(checkpoint, tmp_path)
    target = tmp_path / "ckpts"
    status, out, err = run(capsys, NAME, "--url", tarball.as_uri(), "--dir", str(target))
    assert status == 0, err
    assert "installed" in out
    installed = sorted(p.name for p in (target / NAME).iterdir())
    assert installed == ["SHA256", f"{NAME}.ckpt.data-00000-of-00001", f"{NAME}.ckpt.index"]
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert (target / NAME / "SHA256").read_text().split() == [digest, tarball.name]
    reader = tf.train.load_checkpoint(str(target / NAME / f"{NAME}.ckpt"))
    for key, value in checkpoint[1].items():
        np.testing.assert_array_equal(reader.get_tensor(key), value.astype(np.float32))
    assert leftovers(target) == []

    status, out, _ = run(capsys, NAME, "--url", tarball.as_uri(), "--dir", str(target))
    assert status == 0 and "already" in out
    status, out, _ = run(capsys, NAME, "--url", tarball.as_uri(), "--dir", str(target), "--force")
    assert status == 0 and "installed" in out and leftovers(target) == []


def test_changed_tarball_is_refused_on_redownload(checkpoint, tmp_path, capsys):
    target = tmp_path / "ckpts"
    first = good_tarball(checkpoint, tmp_path)
    assert run(capsys, NAME, "--url", first.as_uri(), "--dir", str(target))[0] == 0
    before = {p.name: p.read_bytes() for p in (target / NAME).iterdir()}
    changed = tmp_path / "mirror" / first.name
    changed.parent.mkdir()
    make_tarball(changed, sorted(checkpoint[0].iterdir()), [member("eval.graph", b"changed")])
    status, _, err = run(capsys, NAME, "--url", changed.as_uri(), "--dir", str(target), "--force")
    assert status == 2 and "expected" in err and err.count("\n") == 1
    assert {p.name: p.read_bytes() for p in (target / NAME).iterdir()} == before
    assert leftovers(target) == []


def test_known_digest_is_enforced(checkpoint, tmp_path, capsys, monkeypatch):
    tarball = good_tarball(checkpoint, tmp_path)
    monkeypatch.setitem(gradcam.download.KNOWN_SHA256, tarball.name, "0" * 64)
    status, _, err = run(capsys, NAME, "--url", tarball.as_uri(), "--dir", str(tmp_path / "c"))
    assert status == 2 and "sha256" in err
    assert not (tmp_path / "c" / NAME).exists()


@pytest.mark.parametrize(
    "bad",
    [
        member("../evil.txt"),
        member("/tmp/gradcam_evil.txt"),
        member("sub/../../evil.txt"),
        member("link", kind=tarfile.SYMTYPE, link="/etc/passwd"),
    ],
)
def test_malicious_members_refuse_the_whole_tarball(checkpoint, tmp_path, capsys, bad):
    tarball = make_tarball(tmp_path / "evil.tar.gz", sorted(checkpoint[0].iterdir()), [bad])
    target = tmp_path / "ckpts"
    status, _, err = run(capsys, NAME, "--url", tarball.as_uri(), "--dir", str(target))
    assert status == 2 and "refusing" in err and err.count("\n") == 1
    assert not (target / NAME).exists() and leftovers(target) == []
    assert not (tmp_path / "evil.txt").exists() and not Path("/tmp/gradcam_evil.txt").exists()


def test_not_a_gzip_tar(tmp_path, capsys):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"<html>not found</html>")
    status, _, err = run(capsys, NAME, "--url", junk.as_uri(), "--dir", str(tmp_path / "c"))
    assert status == 2 and "not a valid gzip tar" in err
    assert not (tmp_path / "c" / NAME).exists()


def test_truncated_tarball(checkpoint, tmp_path, capsys):
    whole = good_tarball(checkpoint, tmp_path).read_bytes()
    cut = tmp_path / "cut" / f"{NAME}_2017_04_14.tar.gz"
    cut.parent.mkdir()
    cut.write_bytes(whole[: len(whole) // 2])
    status, _, err = run(capsys, NAME, "--url", cut.as_uri(), "--dir", str(tmp_path / "c"))
    assert status == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "c" / NAME).exists() and leftovers(tmp_path / "c") == []


def test_tarball_without_the_checkpoint(tmp_path, capsys):
    tarball = make_tarball(tmp_path / "other.tar.gz", extra=[member("other.ckpt.index")])
    status, _, err = run(capsys, NAME, "--url", tarball.as_uri(), "--dir", str(tmp_path / "c"))
    assert status == 2 and "does not contain the checkpoint resnet_v2_50.ckpt" in err


def test_single_file_v1_checkpoint_is_accepted(tmp_path, capsys):
    """The 2016 tarballs (inception_v3, vgg_16, ...) hold one V1-format file named <name>.ckpt."""
    tarball = make_tarball(
        tmp_path / "inception_v3_2016_08_28.tar.gz",
        extra=[member("inception_v3.ckpt", b"v1 bytes")],
    )
    status, _, err = run(
        capsys, "inception_v3", "--url", tarball.as_uri(), "--dir", str(tmp_path / "c")
    )
    assert status == 0, err
    assert (tmp_path / "c" / "inception_v3" / "inception_v3.ckpt").read_bytes() == b"v1 bytes"


def test_no_network_is_one_line_exit_2(tmp_path, capsys):
    url = "http://127.0.0.1:9/resnet_v2_50_2017_04_14.tar.gz"  # discard port: connection refused
    status, out, err = run(capsys, NAME, "--url", url, "--dir", str(tmp_path / "c"))
    assert status == 2 and out == ""
    assert err.startswith(f"gradcam: error: cannot download {url}") and "(no network?)" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert leftovers(tmp_path / "c") == []


def test_choices_come_from_the_registry(capsys):
    from gradcam.commands.download import _downloadable
    from nets.nets_factory import NETWORKS

    listed = gradcam.download.downloadable()
    assert set(listed) == {n for n, s in NETWORKS.items() if s.download_url}
    assert "efficientnet_lite0" not in listed and _downloadable() == listed
    assert main(["download", "efficientnet_lite0"]) == 2  # converted locally: not a choice
    assert "invalid choice: 'efficientnet_lite0'" in capsys.readouterr().err


def test_download_over_http_from_the_library(checkpoint, tmp_path, http_mirror):
    """The Python API downloads over real HTTP (Content-Length, streamed) into the home folder."""
    folder, base = http_mirror
    tarball = good_tarball(checkpoint, folder)
    home = tmp_path / "home"
    status = gradcam.download.download(NAME, home, f"{base}/{tarball.name}")
    assert status.startswith(f"{NAME}: installed {home / NAME / (NAME + '.ckpt')}")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert (home / NAME / "SHA256").read_text().split() == [digest, tarball.name]
    reader = tf.train.load_checkpoint(str(home / NAME / f"{NAME}.ckpt"))
    for key, value in checkpoint[1].items():
        np.testing.assert_array_equal(reader.get_tensor(key), value.astype(np.float32))
    with pytest.raises(UserError, match="cannot download .*/missing.tar.gz"):
        gradcam.download.download(NAME, home, f"{base}/missing.tar.gz", force=True)
    assert sorted(p.name for p in (home / NAME).iterdir())[0] == "SHA256" and leftovers(home) == []


def test_default_home_is_the_checkpoint_home(checkpoint, tmp_path, monkeypatch, capsys):
    """Without --dir the checkpoint lands where Model() looks for it ($GRADCAM_HOME)."""
    from gradcam.checkpoints import default_checkpoint
    from nets.nets_factory import NETWORKS

    monkeypatch.setenv("GRADCAM_HOME", str(tmp_path / "home"))
    with pytest.raises(UserError, match=f"run 'gradcam download {NAME}'"):
        default_checkpoint(NETWORKS[NAME])  # the missing checkpoint names the command
    tarball = good_tarball(checkpoint, tmp_path)
    assert main(["download", NAME, "--url", tarball.as_uri()]) == 0
    assert default_checkpoint(NETWORKS[NAME]) == str(tmp_path / "home" / NAME / f"{NAME}.ckpt")


def test_unknown_network_from_the_library(tmp_path):
    with pytest.raises(UserError, match="'nosuch' has no checkpoint to download; choose from"):
        gradcam.download.download("nosuch", tmp_path)


def test_the_script_is_the_command(checkpoint, tmp_path, capsys):
    """scripts/download_checkpoints.py (kept for checkouts) runs `gradcam download`."""
    tarball = good_tarball(checkpoint, tmp_path)
    argv = [NAME, "--url", tarball.as_uri(), "--dir", str(tmp_path / "c")]
    assert load_script("download_checkpoints").main(argv) == 0
    assert "installed" in capsys.readouterr().out
    assert (tmp_path / "c" / NAME / f"{NAME}.ckpt.index").is_file()
