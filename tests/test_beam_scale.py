"""``gradcam beam`` beyond one process: a dask.distributed LocalCluster started here (2 worker
processes, 1 thread each, working directory elsewhere) on a relative local folder, equal to
``gradcam batch``; an S3 object store on 127.0.0.1 (moto's server, through Beam's own S3
filesystem) in and out, with resume doing nothing and then redoing exactly the deleted outputs;
a worker SIGKILLed mid-run, then a rerun with every image once; bad input as one line, exit 2,
nothing written. Servers listen on 127.0.0.1 only and stop with the module."""

import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import PHOTOS, photo

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow  # worker processes each load TensorFlow and the model

distributed = pytest.importorskip("distributed")
boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server")

DASK = "apache_beam.runners.dask.dask_runner.DaskRunner"


def make_photos(folder, count=8, side=96):
    """``count`` small photos (flips and crops of the test photos; PNG and JPEG, some in a
    subfolder) and one broken file."""
    (folder / "sub").mkdir(parents=True)
    for i in range(count):
        rgb = photo(PHOTOS[i % len(PHOTOS)])
        rgb = [rgb, rgb[:, ::-1], rgb[::-1]][i // len(PHOTOS) % 3]
        image = Image.fromarray(np.ascontiguousarray(rgb)).resize((side, side))
        target = folder / "sub" if i % 3 == 0 else folder
        image.save(target / f"p{i}.{'png' if i % 2 else 'jpg'}", quality=95)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    return folder


def records_of(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def correlation(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def cli(argv, cwd):
    """``gradcam ARGV`` in a fresh process run in ``cwd`` -> CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "gradcam.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A LocalCluster on 127.0.0.1: 2 worker processes with 1 thread each, started from (and so
    working in) a folder of their own."""
    elsewhere = tmp_path_factory.mktemp("workers_cwd")
    here = os.getcwd()
    os.chdir(elsewhere)
    try:
        local = distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            local_directory=str(elsewhere),
        )
    finally:
        os.chdir(here)
    client = distributed.Client(local)
    yield local, client, elsewhere
    client.close()
    local.close()


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """moto's S3 server on 127.0.0.1 -> (endpoint URL, boto3 client, the Beam S3 flags)."""
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    flags = [
        f"--s3_endpoint_url={endpoint}",
        "--s3_access_key_id=testing",
        "--s3_secret_access_key=testing",
        "--s3_region_name=us-east-1",
    ]
    yield endpoint, client, flags
    server.stop()


def keys(client, bucket, prefix=""):
    found = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"]: item for item in found}


def test_dask_cluster_on_a_relative_folder_equals_batch(lite0, cluster, tmp_path):
    from gradcam.batch import JobSettings, run_batch

    local, client, elsewhere = cluster
    driver = tmp_path / "driver"
    folder = make_photos(driver / "photos")
    batch = run_batch(lite0, folder, tmp_path / "batch", JobSettings(batch_size=4), progress=False)
    assert (batch["images"], batch["errors"]) == (8, 1)
    address = local.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    ran = cli(
        ["beam", "photos", "--out", "out", "--batch-size", "4", "--runner", "dask",
         "--dask_client_address", address],
        driver,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    assert "8 images explained, 1 unreadable" in ran.stdout
    out = driver / "out"
    beam = {r["path"]: r for r in records_of((out / "results.jsonl").read_text())}
    reference = {r["path"]: r for r in records_of((tmp_path / "batch/results.jsonl").read_text())}
    assert sorted(beam) == sorted(reference)  # the same absolute paths
    for path, record in reference.items():
        ours = beam[path]
        assert set(ours) == set(record)  # the same JSON fields
        if "error" in record:
            continue
        assert ours["target"]["index"] == record["target"]["index"]
        mine, theirs = np.load(out / ours["npz"]), np.load(tmp_path / "batch" / record["npz"])
        assert correlation(mine["map"], theirs["map"]) >= 0.999
        np.testing.assert_array_equal(mine["input"], theirs["input"])
        assert (
            Image.open(out / ours["png"]).size
            == Image.open(tmp_path / "batch" / record["png"]).size
        )
    assert not list(out.glob("beam-temp-*")) and not list(elsewhere.glob("*.png"))
    assert {p.name for p in out.iterdir()} == {".records", "results.jsonl"} | {
        r[kind] for r in reference.values() if "error" not in r for kind in ("png", "npz")
    }


def test_s3_round_trip_with_resume(cluster, s3, tmp_path):
    """Input from a bucket, outputs to a bucket (on the Dask workers); a resume run does
    nothing; after deleting some outputs a resume run redoes exactly those images."""
    local, _, _ = cluster
    endpoint, client, flags = s3
    client.create_bucket(Bucket="photos")
    client.create_bucket(Bucket="results")
    folder = make_photos(tmp_path / "photos", count=6)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        client.upload_file(str(path), "photos", f"in/{path.relative_to(folder)}")
    argv = ["beam", "s3://photos/in", "--out", "s3://results/run", "--batch-size", "2",
            "--runner", "dask", f"--dask_client_address={local.scheduler_address}", *flags]  # fmt: skip
    first = cli(argv, tmp_path)
    assert first.returncode == 0, first.stderr
    assert "6 images explained, 1 unreadable" in first.stdout
    stored = keys(client, "results", "run/")
    lines = records_of(
        client.get_object(Bucket="results", Key="run/results.jsonl")["Body"].read().decode()
    )
    assert sorted(r["path"] for r in lines) == sorted(
        f"s3://photos/in/{p.relative_to(folder)}" for p in folder.rglob("*") if p.is_file()
    )
    outputs = sorted(k for k in stored if k.endswith((".png", ".npz")))
    assert len(outputs) == 12 and not [k for k in stored if "beam-temp" in k]
    npz = next(k for k in outputs if k.endswith(".npz"))
    saved = np.load(io.BytesIO(client.get_object(Bucket="results", Key=npz)["Body"].read()))
    assert saved["map"].shape == (224, 224) and 0.99 < saved["map"].max() <= 1.0

    again = cli(argv + ["--resume"], tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("0 images explained, 1 unreadable"), again.stdout
    after = keys(client, "results", "run/")
    assert all(after[k]["ETag"] == stored[k]["ETag"] and
               after[k]["LastModified"] == stored[k]["LastModified"] for k in outputs)  # fmt: skip

    deleted = [k for k in outputs if k.endswith(".png")][:2]
    client.delete_objects(Bucket="results", Delete={"Objects": [{"Key": k} for k in deleted]})
    time.sleep(1.1)  # S3 times have whole seconds: a rewrite must be visibly later
    redo = cli(argv + ["--resume"], tmp_path)
    assert redo.returncode == 0, redo.stderr
    assert redo.stdout.startswith("2 images explained, 1 unreadable"), redo.stdout
    final = keys(client, "results", "run/")
    rewritten = {k for k in outputs if final[k]["LastModified"] != stored[k]["LastModified"]}
    redone = {k.rsplit(".", 1)[0] for k in deleted}
    assert rewritten == {k for k in outputs if k.rsplit(".", 1)[0] in redone}
    lines = records_of(
        client.get_object(Bucket="results", Key="run/results.jsonl")["Body"].read().decode()
    )
    assert len(lines) == 7 and len({r["path"] for r in lines}) == 7


def test_worker_killed_mid_run_then_rerun_has_every_image_once(cluster, tmp_path):
    local, client, _ = cluster
    folder = make_photos(tmp_path / "photos", count=24, side=64)
    out = tmp_path / "out"
    argv = ["beam", str(folder), "--out", str(out), "--batch-size", "2", "--runner", "dask",
            f"--dask_client_address={local.scheduler_address}"]  # fmt: skip
    driver = subprocess.Popen(
        [sys.executable, "-m", "gradcam.cli", *argv],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )
    deadline = time.monotonic() + 300
    records = out / ".records"
    while driver.poll() is None and time.monotonic() < deadline:
        if records.exists() and len(list(records.iterdir())) >= 2:
            break
        time.sleep(0.05)
    assert driver.poll() is None, "the run ended before a worker could be killed"
    pids = client.run(os.getpid)
    victim = next(iter(pids.values()))
    os.kill(victim, signal.SIGKILL)
    done_at_kill = len(list(records.iterdir()))
    driver.communicate(timeout=600)  # the run may finish (Dask retries) or fail: either is fine
    assert done_at_kill < 24
    client.wait_for_workers(2, timeout=120)  # the nanny restarts the killed worker
    rerun = cli(argv + ["--resume"], tmp_path)
    assert rerun.returncode == 0, rerun.stderr
    lines = records_of((out / "results.jsonl").read_text())
    images = sorted(str(p) for p in folder.rglob("*") if p.is_file())
    assert sorted(r["path"] for r in lines) == images  # every image exactly once
    for record in lines:
        if "error" not in record:
            Image.open(out / record["png"]).verify()
            assert np.load(out / record["npz"])["map"].shape == (224, 224)
    assert not list(out.glob("beam-temp-*")) and not list(out.glob(".*.tmp"))


def test_bad_input_is_one_line_and_writes_nothing(s3, tmp_path, capsys):
    from gradcam.cli import main
    from gradcam.remote import cache_folder

    endpoint, client, flags = s3
    client.create_bucket(Bucket="bad-inputs")
    client.put_object(Bucket="bad-inputs", Key="in/p.png", Body=b"\x89PNG")
    client.put_object(Bucket="bad-inputs", Key="models/junk.h5", Body=b"this is not HDF5")
    folder = make_photos(tmp_path / "photos", count=1)
    import gradcam.beam_pipeline  # noqa: F401  (Beam's import-time warning is not a case's line)

    capsys.readouterr()
    cases = [
        (["s3://no-such-bucket/in", "--out", str(tmp_path / "o1")], "s3://no-such-bucket/in/**: no files found"),
        ([str(folder), "--out", "s3://no-such-bucket/out"], "cannot write to s3://no-such-bucket/out"),
        (["nofs://somewhere/in", "--out", str(tmp_path / "o2")], "no filesystem for nofs://"),
        ([str(folder), "--out", "nofs://x/out"], "no filesystem for nofs://"),
        ([str(folder), "--out", str(tmp_path / "o3"), "--model-file", "s3://bad-inputs/models/junk.h5"],
         "junk.h5"),
        ([str(folder), "--out", str(tmp_path / "o4"), "--runner", "dask"],
         "the dask runner needs --dask_client_address"),
        ([str(folder), "--out", str(tmp_path / "o5"), "--runner", "dask",
          "--dask_client_address", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
        ([str(folder), "--out", str(tmp_path / "o6"), "--runner", "nosuch"], "unknown runner 'nosuch'"),
    ]  # fmt: skip
    for argv, message in cases:
        assert main(["beam", *argv, *flags]) == 2, argv
        # the S3 server runs in this process: its request log lines share stderr
        err = "".join(
            line for line in capsys.readouterr().err.splitlines(True) if "HTTP/1.1" not in line
        )
        assert err.count("\n") == 1 and err.startswith("gradcam: error: "), err
        assert message in err, (argv, err)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("o")]  # nothing written
    assert set(keys(client, "bad-inputs")) == {"in/p.png", "models/junk.h5"}
    assert not cache_folder("s3://bad-inputs/models/junk.h5").exists()  # no copy left


def test_remote_fetch_checks_size_and_hash(s3, tmp_path, monkeypatch):
    """A URL is fetched once into the cache and measured; a matching cached copy is used without
    fetching; a changed object is refused."""
    import hashlib

    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions

    from gradcam import remote
    from gradcam.errors import UserError

    endpoint, client, flags = s3
    monkeypatch.setenv("GRADCAM_HOME", str(tmp_path / "home"))
    FileSystems.set_options(PipelineOptions(flags))
    client.create_bucket(Bucket="models")
    body = os.urandom(3 << 20)
    client.put_object(Bucket="models", Key="net.h5", Body=body)
    fetched = remote.fetch("s3://models/net.h5")
    assert (fetched.size, fetched.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert Path(fetched.path).read_bytes() == body and Path(fetched.path).name == "net.h5"
    client.put_object(Bucket="models", Key="net.h5", Body=body[::-1])  # changed remotely
    cached = remote.fetch("s3://models/net.h5", size=fetched.size, sha256=fetched.sha256)
    assert Path(cached.path).read_bytes() == body  # the matching cached copy, not refetched
    Path(fetched.path).write_bytes(b"damaged")  # a damaged copy is fetched again: now changed
    with pytest.raises(UserError, match="changed since the run started"):
        remote.fetch("s3://models/net.h5", size=fetched.size, sha256=fetched.sha256)
    assert not remote.cache_folder("s3://models/net.h5").exists()


def test_dataflow_staging_carries_the_package(tmp_path):
    """The documented Dataflow staging: a wheel of this checkout (pip wheel --no-deps .) and
    requirements.txt, as Beam's own stager lays them out for the workers; the wheel holds the
    pipeline and everything it imports from the package."""
    import zipfile

    from apache_beam.options.pipeline_options import PipelineOptions
    from apache_beam.portability.api import beam_runner_api_pb2
    from apache_beam.runners.portability.stager import Stager

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         str(REPO), "-w", str(tmp_path / "dist")],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "dist").glob("gradcam_slim-*.whl")
    options = PipelineOptions(
        [f"--extra_package={wheel}", f"--requirements_file={REPO / 'requirements.txt'}",
         "--requirements_cache=skip", "--sdk_location=container"]
    )  # fmt: skip
    staging = tmp_path / "staging"
    staging.mkdir()
    resources = Stager.create_job_resources(options, str(staging))
    names = {
        beam_runner_api_pb2.ArtifactStagingToRolePayload.FromString(r.role_payload).staged_name
        for r in resources
    }
    assert wheel.name in names and "requirements.txt" in names, names
    members = set(zipfile.ZipFile(wheel).namelist())
    for module in ("beam_pipeline", "storage", "remote", "batch/job", "batch/stream"):
        assert f"gradcam/{module}.py" in members


def doc_block(heading):
    """The bash block under ``heading`` in docs/beyond-one-machine.md, without pip lines."""
    text = (REPO / "docs" / "beyond-one-machine.md").read_text()
    section = text.split(f"## {heading}", 1)[1]
    block = section.split("```bash\n", 1)[1].split("```", 1)[0]
    return "\n".join(line for line in block.splitlines() if not line.startswith("pip install"))


def test_documented_s3_example_runs_as_written(tmp_path):
    """The docs' S3-on-loopback commands, run by bash as written (only the port made free and
    the pip line left out: everything is installed)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = doc_block("An S3 object store").replace("5555", str(port))
    (tmp_path / "photos").mkdir()
    for name in PHOTOS[:3]:
        Image.fromarray(photo(name)).resize((96, 96)).save(tmp_path / "photos" / f"{name}.png")
    bin_dir = Path(sys.executable).parent
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONPATH=str(REPO)),
    )
    assert ran.returncode == 0, ran.stderr[-3000:]
    first, second = [line for line in ran.stdout.splitlines() if "images explained" in line]
    assert first.startswith("3 images explained, 0 unreadable, 0 already done")
    assert second.startswith("0 images explained, 0 unreadable, 3 already done")


def test_documented_dask_commands_run_as_written(tmp_path):
    """The docs' local-cluster commands (a scheduler and two workers started by ``dask``, then
    ``gradcam beam --runner dask`` on a relative folder), run by bash as written (only the port
    made free and the pip line left out); every process of the session is stopped afterwards."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = doc_block("Dask: a local cluster").replace("8786", str(port))
    (tmp_path / "photos").mkdir()
    for name in PHOTOS[:3]:
        Image.fromarray(photo(name)).resize((96, 96)).save(tmp_path / "photos" / f"{name}.png")
    bin_dir = Path(sys.executable).parent
    shell = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", PYTHONPATH=str(REPO)),
    )
    try:
        stdout, stderr = shell.communicate(timeout=900)
    finally:
        try:
            os.killpg(shell.pid, signal.SIGKILL)  # the scheduler and workers, if still there
        except ProcessLookupError:
            pass
    assert shell.returncode == 0, stderr[-3000:]
    assert [line for line in stdout.splitlines() if "images explained" in line][0].startswith(
        "3 images explained, 0 unreadable"
    )
    lines = records_of((tmp_path / "out" / "results.jsonl").read_text())
    assert sorted(Path(r["path"]).name for r in lines) == sorted(f"{n}.png" for n in PHOTOS[:3])
    assert not list((tmp_path / "out").glob("beam-temp-*"))


def test_a_model_file_url_over_http_gives_the_local_files_maps(http_mirror, tmp_path):
    """``--model-file http://...`` (a Keras file served on 127.0.0.1): the driver and the worker
    fetch and check it, and the outputs equal a run on the local file."""
    folder, base = http_mirror
    subprocess.run(
        [sys.executable, str(REPO / "tests" / "diff_models.py"), str(folder)],
        check=True,
        capture_output=True,
    )
    env = {"GRADCAM_HOME": str(tmp_path / "home")}
    runs = {}
    for name, model in (("url", f"{base}/red.keras"), ("local", str(folder / "red.keras"))):
        argv = ["beam", str(folder / "boxes"), "--out", name, "--model-file", model,
                "--outputs", "jsonl,npz"]  # fmt: skip
        ran = subprocess.run(
            [sys.executable, "-m", "gradcam.cli", *argv],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
            env=dict(os.environ, PYTHONPATH=str(REPO), **env),
        )
        assert ran.returncode == 0, ran.stderr[-2000:]
        assert "6 images explained, 0 unreadable" in ran.stdout
        runs[name] = sorted((tmp_path / name).rglob("*.npz"))
    assert len(runs["url"]) == len(runs["local"]) == 6
    for url_npz, local_npz in zip(runs["url"], runs["local"]):
        assert url_npz.relative_to(tmp_path / "url") == local_npz.relative_to(tmp_path / "local")
        with np.load(url_npz) as a, np.load(local_npz) as b:
            assert set(a.files) == set(b.files)
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])
    cached = list((tmp_path / "home" / "remote").rglob("red.keras"))
    assert len(cached) == 1 and cached[0].read_bytes() == (folder / "red.keras").read_bytes()
