"""``gradcam audit`` end to end on a data set with a planted shortcut (scripts/
make_planted_shortcut.py: 40% of the "red" images carry a checkerboard tag in the bottom-right
corner, and a Keras model whose hand-set weights use it): the tagged images form one cluster and
it alone is flagged; the collection resumes exactly; bad input is one line, exit 2, nothing
written; the report opens in headless chromium with every picture loaded from its folder."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from static_pages import read_page

import gradcam
from gradcam.auditing import audit
from gradcam.auditing.collect import collect
from gradcam.cli import main
from gradcam.dataset import read_labelled_folder
from gradcam.errors import UserError

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "make_planted_shortcut.py"


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """The planted data set and model, written by the script in its own (eager) process."""
    out = tmp_path_factory.mktemp("planted")
    subprocess.run([sys.executable, str(SCRIPT), str(out)], check=True, capture_output=True)
    return out


@pytest.fixture(scope="module")
def model(planted):
    model = gradcam.Model(planted / "model.keras", labels=str(planted / "labels.txt"))
    yield model
    model.close()


@pytest.fixture(scope="module")
def audited(planted, model, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit") / "AUDIT"
    return gradcam.audit(model, planted / "data", out=out), out


def tagged(planted):
    return set((planted / "tagged.txt").read_text().split())


def test_the_planted_tag_is_one_cluster_and_the_only_one_flagged(planted, audited):
    result, _ = audited
    marks = tagged(planted)
    red = result.of_class("red")
    best = max(red.clusters, key=lambda c: len(marks & set(c.members)))
    assert len(marks & set(best.members)) >= 0.8 * len(marks)  # most tagged images together
    assert len(marks & set(best.members)) >= 0.8 * len(best.members)  # and little else
    assert best.suspicious
    assert [(c.name, k.id) for c, k in result.suspicious()] == [("red", best.id)]
    assert best.test.drop > 2 * max(best.test.control_drop, best.test.other_images_drop)
    assert best.test.transplant_flip_rate > 0.5
    assert best.corner_mass["bottom_right"] > 0.5
    for name in ("green", "blue"):
        assert not any(c.suspicious for c in result.of_class(name).clusters)
    # clusters grouping objects by position exist among the untagged classes: same place, but
    # not the same thing, so they are not flagged
    by_position = [
        k
        for name in ("green", "blue")
        for k in result.of_class(name).clusters
        if k.test.position_spread <= result.rule.max_spread
    ]
    assert by_position and all(k.test.drop > 2 * k.test.control_drop for k in by_position)
    assert all(k.test.template_similarity < result.rule.min_similarity for k in by_position)


def test_audit_json_is_the_api_record(planted, audited):
    result, out = audited
    saved = json.loads((out / "audit.json").read_text())
    assert saved == json.loads(json.dumps(result.to_json()))
    assert saved["method"] == "grad_cam" and saved["layer"] == result.layer and saved["seed"] == 0
    assert {"scikit-learn", "tensorflow", "numpy", "scipy"} <= set(saved["versions"])
    images = 0
    for cls in saved["classes"]:
        assert {"class", "index", "images", "clusters"} <= set(cls)
        members = [p for c in cls["clusters"] for p in c["members"]]
        assert sorted(members) == sorted(
            p.relative_to(planted / "data").as_posix()
            for p in (planted / "data" / cls["class"]).glob("*.png")
        )
        images += cls["images"]
        for cluster in cls["clusters"]:
            assert {"id", "members", "border_mass", "test", "position_spread"} <= set(cluster)
            assert {"template_similarity", "suspicious"} <= set(cluster)
            assert {
                "drop",
                "control_drop",
                "other_images_drop",
                "transplant_flip_rate",
                "p_value",
            } <= set(cluster["test"])
    assert images == 180
    (flagged,) = [c for cls in saved["classes"] for c in cls["clusters"] if c["suspicious"]]
    listed = (out / flagged["members_file"]).read_text().split()
    assert listed == flagged["members"]
    assert sorted(p.name for p in (out / "suspicious").iterdir()) == [
        Path(flagged["members_file"]).name
    ]


def test_collection_resumes_exactly(planted, model, audited, tmp_path):
    _, out = audited
    data = read_labelled_folder(planted / "data", model.labels)
    full = np.load(out / "maps.npz")
    partial = tmp_path / "AUDIT"
    shutil.copytree(out / "collect", partial / "collect")
    lines = (partial / "collect" / "results.jsonl").read_bytes().splitlines(keepends=True)
    kept = lines[:50] + [lines[50][:20]]  # killed while writing line 51
    (partial / "collect" / "results.jsonl").write_bytes(b"".join(kept))
    with pytest.raises(UserError, match="--resume"):
        collect(model, data, partial, progress=False)
    again = collect(model, data, partial, resume=True, progress=False)
    assert list(again.paths) == list(full["paths"])
    np.testing.assert_allclose(again.maps, full["maps"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(again.target, full["target"])
    done = (partial / "collect" / "results.jsonl").read_text().splitlines()
    assert len(done) == 180 == len({json.loads(x)["path"] for x in done})


def write_images(folder, count, seed=0, size=32):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size, 3)).astype(np.uint8)
        Image.fromarray(pixels).save(folder / f"{i:03d}.png")


@pytest.fixture
def cli(model, monkeypatch, capsys):
    import gradcam.commands.audit as command

    monkeypatch.setattr(command, "load_model", lambda args: model)

    def run(*argv):
        status = main(["audit", *map(str, argv), "--no-progress"])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


def one_line_error(status, err):
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gradcam: error:"), err
    return lines[0]


def test_empty_folder(cli, tmp_path):
    (tmp_path / "data").mkdir()
    status, _, err = cli(tmp_path / "data", "--out", tmp_path / "AUDIT")
    assert "no images found" in one_line_error(status, err)
    assert not (tmp_path / "AUDIT").exists()


def test_subfolder_matching_no_class(cli, tmp_path):
    write_images(tmp_path / "data" / "red", 12)
    write_images(tmp_path / "data" / "redd", 12)
    status, _, err = cli(tmp_path / "data", "--out", tmp_path / "AUDIT")
    line = one_line_error(status, err)
    assert "'redd'" in line and "closest: red" in line
    assert not (tmp_path / "AUDIT").exists()


def test_classes_with_fewer_images_than_clusters_need(cli, tmp_path):
    for name in ("red", "green"):
        write_images(tmp_path / "data" / name, 4)
    status, _, err = cli(tmp_path / "data", "--out", tmp_path / "AUDIT")
    line = one_line_error(status, err)
    assert "fewer than 11 images" in line and "--k" in line
    assert not (tmp_path / "AUDIT").exists()


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--area", "1.5"], "--area must be between 0 and 1"),
        (["--max-images", "1"], "--max-images must be at least 2"),
        (["--classes", "purple"], "unknown class 'purple'"),
        (["--method", "gradient", "--option", "nope=1"], "nope"),
    ],
)
def test_bad_settings(cli, planted, tmp_path, extra, message):
    status, _, err = cli(planted / "data", "--out", tmp_path / "AUDIT", *extra)
    assert message in one_line_error(status, err)
    assert not (tmp_path / "AUDIT").exists()


def test_out_inside_data_or_a_file(cli, planted, tmp_path):
    status, _, err = cli(planted / "data", "--out", planted / "data" / "AUDIT")
    assert "inside the data folder" in one_line_error(status, err)
    assert not (planted / "data" / "AUDIT").exists()
    (tmp_path / "file").write_text("mine")
    status, _, err = cli(planted / "data", "--out", tmp_path / "file")
    assert "is a file" in one_line_error(status, err)
    assert (tmp_path / "file").read_text() == "mine"


def test_unreadable_images_and_small_classes_are_reported_and_skipped(cli, planted, tmp_path):
    data = tmp_path / "data"
    for name in ("red", "green"):
        shutil.copytree(planted / "data" / name, data / name)
    write_images(data / "blue", 5)
    (data / "red" / "broken.png").write_bytes(b"not a png at all")
    status, out, err = cli(data, "--out", tmp_path / "AUDIT", "--json")
    assert status == 0, err
    summary = json.loads(out)
    assert [e["path"] for e in summary["errors"]] == ["red/broken.png"]
    blue = next(c for c in summary["classes"] if c["class"] == "blue")
    assert blue["skipped"] and "needs at least 11" in blue["skipped"] and not blue["clusters"]
    assert (tmp_path / "AUDIT" / "report.html").is_file()
    assert not [p for p in (tmp_path / "AUDIT").rglob(".*")]  # no temporary file left


def test_api_without_out_writes_nothing(planted, model, tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    data = read_labelled_folder(planted / "data", model.labels, classes="green")
    result = audit(model, data, k=5, max_clusters=3)
    assert [c.name for c in result.classes] == ["green"] and result.out is None
    assert list(tmp_path.iterdir()) == []


# -- the report in a browser ------------------------------------------------------------------------
def test_report_opens_from_disk_in_chromium(audited):
    result, out = audited
    seen = read_page(out / "report.html", counts=["#suspicious tr"], images_in=[".gallery"])
    galleries = seen["images_in"][".gallery"]
    images, rows, text = seen["images"], seen["counts"]["#suspicious tr"], seen["text"]
    clusters = [k for c in result.classes for k in c.clusters]
    assert len(galleries) == len(clusters)
    assert galleries == [min(24, len(k.members)) for k in clusters]
    assert rows == 1 + len(result.suspicious())
    assert images and all(complete and width > 0 for _, complete, width in images)
    for src, _, _ in images:  # relative to the report, and there
        assert not src.startswith(("/", "http", "data:")) and (out / src).is_file()
    assert "not independent evidence" in text and "gallery" in text


def test_maps_from_a_batch_run_are_the_collected_maps(planted, model, audited, tmp_path):
    """The Beam route: ``gradcam batch``/``beam`` NPZ outputs with the lowres map read back as
    the audit's maps (every planted image is classified right, so top class = true class)."""
    from gradcam.auditing.collect import load_batch_outputs
    from gradcam.batch import JobSettings, run_batch

    _, out = audited
    settings = JobSettings(outputs=("npz", "jsonl"), npz_maps="lowres")
    run_batch(model, str(planted / "data"), tmp_path / "maps", settings, progress=False)
    data = read_labelled_folder(planted / "data", model.labels)
    loaded = load_batch_outputs(tmp_path / "maps", data)
    full = np.load(out / "maps.npz")
    assert list(loaded.paths) == list(full["paths"])
    np.testing.assert_allclose(loaded.maps, full["maps"], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loaded.logits, full["logits"], rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(loaded.target, full["true"])
    with pytest.raises(UserError, match="no such file"):
        load_batch_outputs(tmp_path / "nothing", data)


def test_a_flat_folder_is_grouped_by_prediction(planted, model, tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    for path in (planted / "data").rglob("*.png"):
        shutil.copyfile(path, flat / f"{path.parent.name}_{path.name}")
    result = gradcam.audit(model, flat, classes="red", out=tmp_path / "AUDIT")
    assert result.by == "predicted" and [c.name for c in result.classes] == ["red"]
    red = result.of_class("red")
    assert red.images == 60 and red.accuracy is None
    marks = {m.replace("/", "_") for m in tagged(planted)}
    (flagged,) = [k for k in red.clusters if k.suspicious]
    assert len(marks & set(flagged.members)) >= 0.8 * len(marks)
