"""Fine-tune a registered network on a folder-per-class image set; save a Slim checkpoint + labels.

The new logits layer starts at zero (for a softmax head, gradient steps then keep the class
weights summing to zero, so each class's weights carry only what separates it) and trains with
Adam; batch norm stays in inference mode. When only the head trains, the frozen backbone's
features are computed once and the head trains on them (the logits input is fed directly).
Layers named by ``train_scopes`` train too (then every step runs the whole network).
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gradcam.checkpoints import checkpoint_shapes, default_checkpoint, latest
from gradcam.errors import UserError
from gradcam.images import load_image
from gradcam.loaders.slim import network_spec
from gradcam.preprocessing import crop_and_resize, get_preprocessing
from nets.tf_compat import tf

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
CHECKPOINT_NAME = "model.ckpt"
LABELS_NAME = "labels.txt"


@dataclass
class Result:
    checkpoint: str
    labels_file: str
    class_names: list
    train_accuracy: float
    loss: float
    cached_features: bool


def image_folder(data_dir):
    """(paths, class ids, class names) of DATA_DIR/<class name>/<image>, classes sorted by name."""
    root = Path(data_dir)
    if not root.is_dir():
        raise UserError(f"data directory not found: {data_dir}")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    paths, ids = [], []
    for index, name in enumerate(classes):
        files = sorted(f for f in (root / name).iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise UserError(
                f"class folder {root / name} has no images ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        paths += files
        ids += [index] * len(files)
    if len(classes) < 2:
        raise UserError(
            f"{data_dir} needs at least two class folders (one per class), found {len(classes)}"
        )
    return paths, np.array(ids, np.int32), classes


def head_scope(spec):
    """Variable scope of the network's final linear layer (from NetworkSpec.head_weights)."""
    if not spec.head_weights:
        raise UserError(
            f"{spec.name} does not name its logits layer: pass {{argument}}", "train_scopes"
        )
    return spec.head_weights.rsplit("/", 1)[0]


def _head_input(graph, scope):
    """The tensor the logits layer multiplies (its input), found from its weights' consumer."""
    weights = [v.op for v in tf.global_variables() if v.op.name == f"{scope}/weights"]
    for op in graph.get_operations():
        if (
            weights
            and op.type in ("MatMul", "Conv2D")
            and any(t.op.inputs and t.op.inputs[0].op is weights[0] for t in op.inputs[1:])
        ):
            return op.inputs[0]
    raise UserError(
        f"cannot find the input of {scope}; pass {{argument}} to train without caching",
        "train_scopes",
    )


def _restore_backbone(session, checkpoint, variables, head):
    """Restore ``variables`` from the checkpoint; only those under the ``head`` scope may be
    missing or of another shape there (a new head): they start at zero."""
    path = latest(checkpoint)
    shapes = checkpoint_shapes(path)
    fresh = {v.op.name for v in variables if list(shapes.get(v.op.name, [-1])) != v.shape.as_list()}
    outside = sorted(
        (v.op.name, v.shape.as_list())
        for v in variables
        if v.op.name in fresh and not v.op.name.startswith(head + "/")
    )
    if outside:
        name, wanted = outside[0]
        problem = (
            f"lacks {name}"
            if name not in shapes
            else f"has {name} with shape {list(shapes[name])}, the network {wanted}"
        )
        more = f" (and {len(outside) - 1} more)" if len(outside) > 1 else ""
        raise UserError(
            f"checkpoint {path} {problem}{more}: only the head ({head}) may be new; "
            "is it a checkpoint of this network?"
        )
    tf.train.Saver([v for v in variables if v.op.name not in fresh]).restore(session, path)
    for v in variables:
        if v.op.name in fresh:
            v.load(np.zeros(v.shape.as_list(), np.float32), session)


def _load_images(paths, size, preprocessing):
    return np.stack([crop_and_resize(load_image(p), size, preprocessing) for p in paths])


def finetune(
    data_dir,
    out_dir,
    network="efficientnet_lite0",
    checkpoint=None,
    train_scopes=(),
    steps=200,
    batch_size=32,
    learning_rate=0.01,
    seed=0,
    progress=None,
):
    """Train a new ``len(classes)``-way head (and ``train_scopes``) and save it under ``out_dir``.

    Returns a ``Result``; the checkpoint restores with ``Model(network, out_dir,
    num_classes=len(classes), labels=out_dir/labels.txt)``.
    """
    for name, value in (("steps", steps), ("batch_size", batch_size)):
        if value < 1:
            raise UserError(f"{{argument}} must be at least 1, got {value}", name)
    if learning_rate <= 0:
        raise UserError(f"{{argument}} must be positive, got {learning_rate}", "learning_rate")
    spec = network_spec(network)
    paths, ids, classes = image_folder(data_dir)
    scopes = [head_scope(spec)] + [s.strip("/") for s in train_scopes if s.strip("/")]
    cache = len(scopes) == 1
    images = _load_images(paths, spec.image_size, spec.preprocessing)
    rng = np.random.default_rng(seed)
    graph = tf.Graph()
    with graph.as_default():
        tf.set_random_seed(seed)
        pixels = tf.placeholder(tf.float32, [None, spec.image_size, spec.image_size, 3])
        logits, _ = spec.build(
            get_preprocessing(spec.preprocessing).normalize(pixels), len(classes)
        )
        logits = tf.reshape(logits, [-1, len(classes)])
        network_variables = tf.global_variables()
        trainable = [
            v
            for v in tf.trainable_variables()  # not batch-norm moving statistics
            if any(v.op.name.startswith(s + "/") for s in scopes)
        ]
        unknown = [s for s in scopes if not any(v.op.name.startswith(s + "/") for v in trainable)]
        if unknown:
            raise UserError(
                f"{{argument}} {unknown[0]!r} names no variables of {spec.name} "
                f"(e.g. {head_scope(spec)})",
                "train_scopes",
            )
        labels = tf.placeholder(tf.int32, [None])
        loss = tf.reduce_mean(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        )
        train = tf.train.AdamOptimizer(learning_rate).minimize(loss, var_list=trainable)
        accuracy = tf.reduce_mean(
            tf.cast(tf.equal(tf.argmax(logits, 1, output_type=tf.int32), labels), tf.float32)
        )
        feature = _head_input(graph, scopes[0]) if cache else pixels
        with tf.Session(graph=graph) as session:
            session.run(
                tf.variables_initializer(
                    [v for v in tf.global_variables() if v not in network_variables]
                )
            )
            _restore_backbone(
                session, checkpoint or default_checkpoint(spec), network_variables, scopes[0]
            )
            inputs = _run_batches(session, feature, pixels, images, batch_size) if cache else images
            for _ in (progress or (lambda r: r))(range(steps)):
                batch = rng.choice(len(ids), min(batch_size, len(ids)), replace=False)
                session.run(train, {feature: inputs[batch], labels: ids[batch]})
            final_loss, final_accuracy = session.run(
                [loss, accuracy], {feature: inputs, labels: ids}
            )
            saved = _save(session, network_variables, out_dir, classes)
    return Result(
        saved,
        str(Path(out_dir) / LABELS_NAME),
        classes,
        float(final_accuracy),
        float(final_loss),
        cache,
    )


def _run_batches(session, tensor, pixels, images, batch_size):
    return np.concatenate(
        [
            session.run(tensor, {pixels: images[i : i + batch_size]})
            for i in range(0, len(images), batch_size)
        ]
    )


def _save(session, variables, out_dir, classes):
    """Slim checkpoint of the network's variables (no optimizer state) and an id:name label file."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = out / LABELS_NAME
    tmp = labels.with_suffix(".tmp")
    tmp.write_text("".join(f"{i}:{name}\n" for i, name in enumerate(classes)), encoding="utf-8")
    saved = tf.train.Saver(variables).save(session, str(out / CHECKPOINT_NAME))
    os.replace(tmp, labels)
    return saved
