"""The batch job as an Apache Beam pipeline whose workers share nothing with the driver.

INPUT and OUT are local paths (made absolute on the driver) or URLs of any Beam filesystem
(gs://, s3://, hdfs://, azfs://). The images are matched inside the pipeline (``fileio.MatchAll``
after a step that sets the worker's filesystem options; the driver only checks that the pattern
matches something, with a limit of one), split into ``SHARDS`` shards by a hash of their path (on Dask each shard is a task, so
the workers share the images), read as bytes by the workers (``fileio.ReadMatches``) and decoded
in memory. Workers take chunks of ``CHUNK_BATCHES`` x batch-size images and run ``gradcam
batch``'s own ``ExplainStream`` on them (decoding threads ahead of the network, writing threads
behind it), with the model loaded once per worker process; a model file or checkpoint given as
a URL is fetched once per worker and checked by size and SHA-256 (``gradcam.remote``).

Every output goes through ``gradcam.storage.write_file``: complete or absent. Per image, once
its PNG and NPZ are in place, its JSON record is written to ``OUT/.records/NAME.json``: these
are the done-markers of ``--resume`` (an image is skipped when its record and every chosen
output exist), and they survive a worker killed mid-run. Per chunk, its JSON lines and counts
go to ``OUT/.part-RUN-CHUNK.*`` files named by the chunk's key (a retried chunk rewrites them);
the driver gathers them into OUT/results.jsonl (written whole) and removes them. Unreadable
images are error lines without a record, so a resumed run tries them again. Any ``beam-temp-*``
staging is removed after every run, finished or failed, on every filesystem. (Beam's
WriteToText is not used: on the Dask runner its side inputs compute the whole pipeline again,
and it left its staging folders there.)

Runners by short name (``RUNNERS``); each runner's required options and extras are checked on
the driver, with the settings, the checkpoint or model file, INPUT (readable) and OUT
(writable): a mistake is one ``UserError`` before the pipeline starts. A worker's UserError
comes back as one UserError.
"""

import importlib.util
import json
import os
import re
import socket
import uuid
import zlib
from dataclasses import replace
from pathlib import Path

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from gradcam import remote, storage
from gradcam.arrays import frame_shape
from gradcam.batch import RESULTS_FILE, ExplainStream, ImageJob, is_image_name, output_name
from gradcam.checkpoints import find_checkpoint
from gradcam.errors import UserError
from gradcam.labels import labels_for, resolve_class
from gradcam.loaders.slim import network_spec
from gradcam.model_cache import PROCESS_MODELS
from gradcam.worker_options import FilesystemOptions, set_filesystem_options

# Light local defaults; flags given by the user come later and win.
DEFAULT_FLAGS = [
    "--runner=DirectRunner",
    "--direct_running_mode=in_memory",
    "--direct_num_workers=1",
]
TEMP_PREFIX = "beam-temp-"  # staging folders of Beam's file sinks (none of ours uses one)
RECORDS = ".records"  # OUT/.records/NAME.json: one image's record, its done-marker
PART_PREFIX = ".part-"  # OUT/.part-RUN-CHUNK.jsonl/.json: a chunk's lines and counts (driver's)
CHUNK_BATCHES = 8  # batches per Beam element: the decode/write overlap restarts at each one
SHARDS = 16  # the matched images are split this many ways (Dask: one task per shard)

RUNNERS = {
    "direct": "DirectRunner",
    "dask": "apache_beam.runners.dask.dask_runner.DaskRunner",
    "dataflow": "DataflowRunner",
    "flink": "FlinkRunner",
    "spark": "SparkRunner",
    "prism": "PrismRunner",
}
# Options a runner cannot go without, and the module (with its pip extra) it needs
REQUIRED_OPTIONS = {
    "dask": ("dask_client_address",),
    "dataflow": ("project", "region", "temp_location"),
}
REQUIRED_MODULES = {
    "dask": ("distributed", 'pip install "gradcam-slim[dask]"'),
    "dataflow": ("google.cloud.storage", 'pip install "apache-beam[gcp]"'),
}


# -- the plan ----------------------------------------------------------------------------------
class BeamPlan:
    """What the driver settled: the match pattern, the root of the output names, OUT, the Beam
    flags (runner resolved) and an id naming this run's count files."""

    def __init__(self, *, pattern, root, out_dir, flags):
        self.pattern, self.root, self.out_dir, self.flags = pattern, root, out_dir, flags
        self.run_id = uuid.uuid4().hex[:12]

    @property
    def results(self):
        return storage.join(self.out_dir, RESULTS_FILE)


def input_pattern(source):
    """(match pattern, root folder) of INPUT: a folder (recursive), a glob or one file, local or a
    URL. A glob's root is the folder before its first wildcard."""
    source = storage.location(source)
    if storage.is_url(source):
        storage.filesystem_of(source)
        if re.search(r"[*?\[]", source):
            return source, _glob_root(source)
        if FileSystems.match([source], limits=[1])[0].metadata_list:
            return source, source.rsplit("/", 1)[0]
        return storage.join(source, "**"), source.rstrip("/")
    if re.search(r"[*?\[]", source):
        return source, _glob_root(source)
    if FileSystems.exists(source) and not storage.is_folder(source):
        return source, source.rsplit("/", 1)[0]
    return storage.join(source, "**"), source.rstrip("/")


def _glob_root(pattern):
    head = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
    return head.rsplit("/", 1)[0]


def runner_flags(beam_flags):
    """``DEFAULT_FLAGS`` then ``beam_flags`` with ``--runner NAME`` mapped (``RUNNERS``) and the
    runner's required options and modules checked."""
    flags = DEFAULT_FLAGS + list(beam_flags)
    runner = PipelineOptions(flags).view_as(StandardOptions).runner or "DirectRunner"
    short = next(
        (
            k
            for k, v in RUNNERS.items()
            if runner.lower() in (k, v.lower(), v.rsplit(".")[-1].lower())
        ),
        None,
    )
    if short is None:
        raise UserError(f"unknown runner {runner!r}; choose from {', '.join(RUNNERS)}")
    flags.append(f"--runner={RUNNERS[short]}")
    if short in REQUIRED_MODULES:
        module, install = REQUIRED_MODULES[short]
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise UserError(f"the {short} runner needs {module.split('.')[0]}: {install}")
    options = PipelineOptions(flags).get_all_options(retain_unknown_options=True)
    missing = [name for name in REQUIRED_OPTIONS.get(short, ()) if not options.get(name)]
    if missing:
        raise UserError(
            f"the {short} runner needs {', '.join('--' + name for name in missing)}"
            + (" (the scheduler's tcp://HOST:PORT)" if short == "dask" else "")
        )
    if short == "dask":
        _check_reachable(options["dask_client_address"])
    if short == "dask" and not any(f.startswith("--dask_npartitions") for f in beam_flags):
        flags.append(f"--dask_npartitions={SHARDS}")  # one Dask partition per Create element
    return flags


def _check_reachable(address):
    """UserError unless a TCP connection to the scheduler's tcp://HOST:PORT opens (5 s)."""
    match = re.fullmatch(r"(?:tcp://)?\[?([^\]/]+?)\]?:(\d+)/?", str(address))
    if not match:
        raise UserError(f"--dask_client_address {address}: expected tcp://HOST:PORT")
    try:
        socket.create_connection((match[1], int(match[2])), timeout=5).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Dask scheduler at {address}: {exc}") from None


# -- the settings, the model -------------------------------------------------------------------
def settings_model(settings):
    """The process's model of ``settings``: its model file (a URL fetched into this process's
    cache, checked against the driver's size and SHA-256) or its registered network."""
    if settings.model_file:
        path = settings.model_file
        if remote.is_remote(path):
            path = remote.fetch(path, size=settings.model_size, sha256=settings.model_sha256).path
        return PROCESS_MODELS.get(
            path,
            trust_code=settings.trust_model_code,
            preprocessing=settings.preprocessing,
            image_size=settings.image_size,
        )
    checkpoint = settings.checkpoint
    if remote.is_remote(checkpoint):
        checkpoint = remote.fetch(
            checkpoint, checkpoint=True, size=settings.model_size, sha256=settings.model_sha256
        ).path
    size = settings.image_size
    return PROCESS_MODELS.get(settings.model, checkpoint, frame_shape(size) if size else None)


def check_settings(settings):
    """UserError for what can be checked before the pipeline: the outputs, the classes and the
    checkpoint, or a model file, loaded here; a URL is fetched and measured. Returns the
    settings with the measured size and SHA-256 of a fetched model (the workers check theirs)."""
    if "jsonl" not in settings.outputs:
        raise UserError(
            "gradcam beam always writes results.jsonl (the pipeline's output): keep "
            "jsonl in {argument}",
            "outputs",
        )
    if settings.model_file:
        if remote.is_remote(settings.model_file):
            fetched = remote.fetch(settings.model_file)
            settings = replace(settings, model_size=fetched.size, model_sha256=fetched.sha256)
        try:
            model = settings_model(settings)
        except UserError:
            if remote.is_remote(settings.model_file):
                remote.forget(settings.model_file)
            raise
        for name in (settings.target_class, settings.score.contrast):
            if name is not None:
                model.class_index(name)
        return settings
    spec = network_spec(settings.model)
    for name in (settings.target_class, settings.score.contrast):
        if name is not None:
            resolve_class(name, labels_for(spec.label_offset, spec.num_classes))
    checkpoint = settings.checkpoint
    if remote.is_remote(checkpoint):
        fetched = remote.fetch(checkpoint, checkpoint=True)
        settings = replace(settings, model_size=fetched.size, model_sha256=fetched.sha256)
        checkpoint = fetched.path
    try:
        find_checkpoint(checkpoint, spec)
    except UserError:
        if remote.is_remote(settings.checkpoint):
            remote.forget(settings.checkpoint)
        raise
    return settings


def plan_run(source, out_dir, settings, beam_flags=(), resume=False):
    """Check everything the driver can, in this order: runner and its options, settings and
    model, INPUT readable, OUT writable and not a finished run (unless ``resume``) -> (checked
    settings, ``BeamPlan``). Nothing is written before the last check (the probe file)."""
    flags = runner_flags(beam_flags)
    set_filesystem_options(flags)  # e.g. --s3_endpoint_url for the driver's checks
    settings = check_settings(settings)
    pattern, root = input_pattern(source)
    storage.check_readable(pattern)
    out_dir = storage.location(out_dir).rstrip("/")
    storage.filesystem_of(out_dir)  # one line for a scheme without a filesystem
    plan = BeamPlan(pattern=pattern, root=root, out_dir=out_dir, flags=flags)
    if not resume and _exists(plan.results):
        raise UserError(
            f"{plan.results} exists: continue it with {{argument}}, or write elsewhere", "resume"
        )
    if not storage.is_url(out_dir):
        os.makedirs(os.path.join(out_dir, RECORDS), exist_ok=True)
    storage.check_writable(out_dir)
    return settings, plan


def _exists(url):
    try:
        return storage.exists(url)
    except Exception as exc:  # any filesystem's error: a missing bucket, credentials, endpoint
        raise UserError(f"cannot read {url}: {storage.describe(exc)}") from None


# -- the workers -------------------------------------------------------------------------------
class ExplainChunks(beam.DoFn):
    """Explains chunks of matched files (several batches). Per image, once its files are in
    place, its record goes to OUT/.records; per chunk, its JSON lines (with ``resume``, images
    already done give their earlier record) and its counts go to two files named by the chunk's
    key, which the driver gathers: a retried chunk rewrites them rather than adding to them.
    Nothing is emitted (the Dask runner computes a side input's producer again, so the run
    ends here rather than in a sink)."""

    def __init__(self, settings, plan, resume):
        self.settings, self.out_dir, self.root = settings, plan.out_dir, plan.root
        self.flags, self.resume, self.run_id = plan.flags, resume, plan.run_id
        self.stream = None

    def setup(self):
        set_filesystem_options(self.flags)  # this worker's filesystem options
        job = ImageJob(
            settings_model(self.settings),
            self.settings,
            self.out_dir,
            self.root,
            write=storage.write_file,
            join=storage.join,
        )
        self.stream = ExplainStream(job)

    def process(self, chunk):
        key, files = chunk
        tally = {"images": 0, "skipped_done": 0, "errors": 0}
        lines, todo, names = [], [], {}
        for readable in files:
            path = readable.metadata.path
            name = output_name(path, self.root)
            other = names.setdefault(name, path)
            if other != path:
                raise UserError(f"{other} and {path} would both write {name}.*; rename one")
            earlier = self._earlier_record(name) if self.resume else None
            if earlier is not None:
                tally["skipped_done"] += 1
                lines.append(earlier)
            else:
                todo.append((path, readable.read))
        for records in self.stream.run(todo):
            for record in records:
                line = json.dumps(record)
                if "error" in record:
                    tally["errors"] += 1
                else:
                    marker = self._marker(output_name(record["path"], self.root))
                    storage.write_file(
                        marker, lambda handle, line=line: handle.write(line.encode())
                    )
                    tally["images"] += 1
                lines.append(line)
        part = "".join(line + "\n" for line in lines).encode()
        counts = json.dumps(tally).encode()
        stem = storage.join(self.out_dir, f"{PART_PREFIX}{self.run_id}-{key}")
        storage.write_file(f"{stem}.jsonl", lambda handle: handle.write(part))
        storage.write_file(f"{stem}.json", lambda handle: handle.write(counts))
        return []

    def teardown(self):
        if self.stream is not None:
            self.stream.close()

    def _marker(self, name):
        return storage.join(storage.join(self.out_dir, RECORDS), f"{name}.json")

    def _earlier_record(self, name):
        """The JSON line of ``name``'s record when it and every chosen output exist, else None."""
        marker = self._marker(name)
        if not storage.exists(marker):
            return None
        outputs = [f"{name}.{kind}" for kind in ("png", "npz") if kind in self.settings.outputs]
        if not all(storage.exists(storage.join(self.out_dir, out)) for out in outputs):
            return None
        return storage.read_bytes(marker).decode().strip()


def in_shard(metadata, shard):
    return zlib.crc32(metadata.path.encode()) % SHARDS == shard


class KeyByChunk(beam.DoFn):
    """Keys each file by its chunk, "SHARD-N": the N-th ``size`` files of its shard in this
    bundle (on Dask a shard is one bundle, so a recomputed shard gets the same keys). A
    GroupByKey then makes the chunks: Beam's BatchElements emits its last batch in
    finish_bundle, which the Dask runner drops."""

    def __init__(self, size):
        self.size = size

    def start_bundle(self):
        self.counts = {}

    def process(self, readable):
        shard = zlib.crc32(readable.metadata.path.encode()) % SHARDS
        count = self.counts.get(shard, 0)
        self.counts[shard] = count + 1
        yield f"{shard}-{count // self.size}", readable


def build_pipeline(pipeline, plan, settings, resume=False):
    """Add the match, explain-and-write and results steps of ``plan`` to ``pipeline``."""
    matched = (
        pipeline
        | "Pattern" >> beam.Create([plan.pattern])
        | "FilesystemOptions" >> beam.ParDo(FilesystemOptions(plan.flags))  # before any match
        | "Match" >> fileio.MatchAll()
        | "Images" >> beam.Filter(lambda metadata: is_image_name(metadata.path))
    )
    shards = [matched | f"Shard{k}" >> beam.Filter(in_shard, k) for k in range(SHARDS)]
    return (
        shards
        | "Shards" >> beam.Flatten()
        | "Read" >> fileio.ReadMatches()
        | "KeyByChunk" >> beam.ParDo(KeyByChunk(CHUNK_BATCHES * settings.batch_size))
        | "Chunks" >> beam.GroupByKey()
        | "ExplainAndWrite" >> beam.ParDo(ExplainChunks(settings, plan, resume))
    )


def _worker_user_error(exc):
    """The message of the UserError behind ``exc``: Beam re-raises a worker's exception itself
    when the worker shares the driver's process, else as text ending in its traceback; or None."""
    if isinstance(exc, UserError):
        return str(exc)
    found = re.findall(r"^gradcam\.errors\.UserError: (.*)$", str(exc), re.MULTILINE)
    return found[-1] if found else None


def run_planned(plan, settings, resume=False):
    """Run a checked plan to completion, then gather the chunks' lines into OUT/results.jsonl
    (written whole) -> this run's counts: images (explained), skipped_done, errors. The chunk
    files and any staging of the runner are removed afterwards, whatever happened."""
    parts = f"{PART_PREFIX}{plan.run_id}-"
    earlier = storage.entries(plan.out_dir, TEMP_PREFIX)
    try:
        with beam.Pipeline(options=PipelineOptions(plan.flags)) as pipeline:
            build_pipeline(pipeline, plan, settings, resume)
        found = sorted(storage.entries(plan.out_dir, parts, below=False))
        counts = {"images": 0, "skipped_done": 0, "errors": 0}
        for name in (n for n in found if n.endswith(".json")):
            for key, value in json.loads(storage.read_bytes(name)).items():
                counts[key] += value

        def gather(handle):
            for name in (n for n in found if n.endswith(".jsonl")):
                handle.write(storage.read_bytes(name))

        storage.write_file(plan.results, gather)
        return counts
    except BaseException as exc:
        message = _worker_user_error(exc)
        if message is None:
            raise
        raise UserError(message) from None
    finally:
        storage.remove(storage.entries(plan.out_dir, TEMP_PREFIX) - earlier)
        storage.remove(storage.entries(plan.out_dir, parts, below=False))


def run_pipeline(source, out_dir, settings, beam_flags=(), resume=False):
    """Check everything (``plan_run``), then run the pipeline to completion -> the URL or path
    of results.jsonl (a ``Path`` when local). ``beam_flags`` are Beam command-line options."""
    settings, plan = plan_run(source, out_dir, settings, beam_flags, resume)
    run_planned(plan, settings, resume)
    return plan.results if storage.is_url(plan.results) else Path(plan.results)
