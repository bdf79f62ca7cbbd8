"""One model adapter: a network's graph, session and gradient ops, built once.

Every explanation method talks to the network only through ``Model``. The graph input is the
image the network sees as float32 pixels in [0, 255] (N x S x S x 3); value normalisation
happens inside the graph, so attributions live in pixel space and overlays are drawn on exactly
that image. The target class goes in through a placeholder, so no call adds ops to the graph:
gradient ops are built on the first use of a layer and reused after.

Guided backpropagation (Springenberg et al. 2014): every ReLU and ReLU6 is created under a
gradient override. Its gradient is TensorFlow's own, except while the model builds its guided
input gradient (once, on first use): then it also zeroes negative incoming gradients. So the
plain backward costs nothing extra and the guided one is a second path, built once.
"""
import numpy as np

from gradcam.errors import UserError
from gradcam.labels import labels_for, resolve_class
from gradcam.tf_compat import slim, tf
from nets.nets_factory import get_network
from nets.preprocessing import crop_and_resize, get_preprocessing

# ReLUs created under this map get the gradients registered below.
GUIDED_OVERRIDES = {"Relu": "GradcamRelu", "Relu6": "GradcamRelu6"}
_BUILDING_GUIDED = "_gradcam_building_guided"  # graph attribute, True only inside guided_gradients


def _maybe_guided(op, grad, plain):
    if getattr(op.graph, _BUILDING_GUIDED, False):
        return plain * tf.cast(grad > 0, grad.dtype)
    return plain


@tf.RegisterGradient("GradcamRelu")
def _relu_grad(op, grad):
    return _maybe_guided(op, grad, tf.raw_ops.ReluGrad(gradients=grad, features=op.outputs[0]))


@tf.RegisterGradient("GradcamRelu6")
def _relu6_grad(op, grad):
    return _maybe_guided(op, grad, tf.raw_ops.Relu6Grad(gradients=grad, features=op.inputs[0]))


def guided_gradients(ys, xs):
    """``tf.gradients(ys, xs)`` with guided-backprop rules at every overridden ReLU/ReLU6."""
    graph = ys.graph
    setattr(graph, _BUILDING_GUIDED, True)
    try:
        return tf.gradients(ys, xs)
    finally:
        setattr(graph, _BUILDING_GUIDED, False)


def distinct_rows(images):
    """(row index of each distinct image's first occurrence, index of every row into those)."""
    slots, firsts, index = {}, [], []
    for i, row in enumerate(images):
        key = row.tobytes()
        if key not in slots:
            slots[key] = len(firsts)
            firsts.append(i)
        index.append(slots[key])
    return np.asarray(firsts, np.int64), np.asarray(index, np.int64)


def _batches(n, batch_size):
    if batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {batch_size}")
    return [slice(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]


class Model:
    """A registered network restored from a checkpoint, ready to explain.

    Args:
        network: a name in ``nets.nets_factory.NETWORKS``.
        checkpoint: checkpoint prefix; default: the network's own under checkpoints/.
        num_classes: override the record's class count (fine-tuned heads).
        labels: class names in the model's label space; default ImageNet names.
        threads: intra-op threads of the session (inter-op uses 1); None lets TF choose.
    """

    def __init__(self, network="efficientnet_lite0", checkpoint=None, num_classes=None,
                 labels=None, threads=None):
        from gradcam.checkpoints import find_checkpoint, restore

        self.spec = get_network(network)
        checkpoint = find_checkpoint(checkpoint, self.spec)  # fail fast, before the graph
        self.num_classes = int(num_classes or self.spec.num_classes)
        self.labels = list(labels) if labels is not None else labels_for(self.spec, self.num_classes)
        if len(self.labels) != self.num_classes:
            raise UserError(f"{len(self.labels)} labels given for a model with {self.num_classes} classes")
        self.image_size = self.spec.image_size
        self.preprocessing = get_preprocessing(self.spec.preprocessing)
        self.graph = tf.Graph()
        with self.graph.as_default(), self.graph.gradient_override_map(GUIDED_OVERRIDES):
            self._build_input()
            with slim.arg_scope(self.spec.arg_scope()):
                logits, self.end_points = self.spec.network_fn(
                    self.preprocessing.normalize(self.images), self.num_classes, is_training=False)
            self._build_output(logits)
            self.session = self._open_session(threads)
            restore(self, checkpoint)
        self.layer(self.spec.cam_layer)

    def _build_input(self):
        """Pixel placeholder (call inside ``self.graph``)."""
        size = self.image_size
        self.images = tf.placeholder(tf.float32, [None, size, size, 3], name="images")

    def _build_output(self, logits):
        """Logits, probabilities, target placeholder, one-hot score and the per-graph caches."""
        self.logits = tf.reshape(logits, [-1, self.num_classes])
        self.probabilities = tf.nn.softmax(self.logits)
        # Not fed: each image's own top class, so one-pass methods need no prediction run first.
        self.target = tf.placeholder_with_default(tf.argmax(self.logits, 1, output_type=tf.int32),
                                                  [None], name="target")
        self.score = tf.reduce_sum(self.logits * tf.one_hot(self.target, self.num_classes), 1)
        self._layer_grads = {}
        self._input_grad = None
        self._cached = {}

    def _open_session(self, threads):
        config = tf.ConfigProto(inter_op_parallelism_threads=1 if threads else 0,
                                intra_op_parallelism_threads=threads or 0)
        return tf.Session(graph=self.graph, config=config)

    # -- graph pieces, each built once -------------------------------------------------------
    @property
    def layer_names(self):
        """End points usable as explanation layers (4-D feature maps)."""
        return [k for k, v in self.end_points.items() if v.shape.ndims == 4]

    def layer(self, name=None):
        """(activation tensor, gradient-of-score tensor) of an end point, built on first use."""
        name = name or self.spec.cam_layer
        if name not in self._layer_grads:
            if name not in self.layer_names:
                from difflib import get_close_matches

                near = get_close_matches(name, self.layer_names, 5, 0.4) or self.layer_names[-5:]
                raise UserError(f"unknown layer {name!r} for {self.spec.name}; close: {', '.join(near)}"
                                f" (all: gradcam list layers --model {self.spec.name})")
            tensor = self.end_points[name]
            with self.graph.as_default():
                self._layer_grads[name] = (tensor, tf.gradients(self.score, tensor)[0])
        return self._layer_grads[name]

    @property
    def input_grad(self):
        """Gradient of the target score with respect to the input pixels."""
        if self._input_grad is None:
            with self.graph.as_default():
                self._input_grad = tf.gradients(self.score, self.images)[0]
        return self._input_grad

    @property
    def guided_input_grad(self):
        """Guided-backprop gradient of the target score with respect to the input pixels."""
        return self.cached("guided_input_grad", lambda: guided_gradients(self.score, self.images)[0])

    def cached(self, key, build):
        """``build()`` run once under this graph and its result kept under ``key``: methods that need
        their own graph ops (or values read once from the session) get them here, so no call adds ops."""
        if key not in self._cached:
            with self.graph.as_default():
                self._cached[key] = build()
        return self._cached[key]

    @property
    def op_count(self):
        return len(self.graph.get_operations())

    # -- running ----------------------------------------------------------------------------
    def run(self, fetches, images, target=None, batch_size=32, feeds=None):
        """Run ``fetches`` (a dict of tensors) over images in batches; arrays concatenated on axis 0.

        ``target`` is one class index per image (model label space). Fetches without a batch axis
        are not allowed; ``feeds`` adds extra placeholder values for every batch.
        """
        images = np.asarray(images, np.float32)
        if images.ndim != 4 or images.shape[1:] != (self.image_size, self.image_size, 3):
            raise UserError(f"images must be N x {self.image_size} x {self.image_size} x 3, "
                            f"got {images.shape}")
        if not np.all(np.isfinite(images)):
            raise UserError("input image contains NaN or infinite values")
        if target is not None:
            target = self.check_target(target, len(images))
        parts = {k: [] for k in fetches}
        for s in _batches(len(images), batch_size):
            feed = {self.images: images[s], **(feeds or {})}
            if target is not None:
                feed[self.target] = target[s]
            for k, v in self.session.run(fetches, feed).items():
                parts[k].append(v)
        return {k: np.concatenate(v) for k, v in parts.items()}

    def check_target(self, target, n):
        target = np.broadcast_to(np.asarray(target, np.int64).reshape(-1), (n,)) if np.ndim(target) == 0 \
            or np.size(target) == 1 else np.asarray(target, np.int64)
        if target.shape != (n,):
            raise UserError(f"need one target per image: {n} images, {target.size} targets")
        bad = target[(target < 0) | (target >= self.num_classes)]
        if bad.size:
            raise UserError(f"class index {int(bad[0])} out of range 0..{self.num_classes - 1}")
        return target.astype(np.int32)

    def predict(self, images, batch_size=32):
        """Logits [N, num_classes]."""
        return self.run({"logits": self.logits}, images, batch_size=batch_size)["logits"]

    def layer_and_gradients(self, images, target, layer=None, batch_size=32):
        """Logits, activations [N,h,w,c] and d(score)/d(activations) of a layer, in one pass.

        When rows repeat one image (several classes of it), the network below the layer runs once
        per distinct image; only the part above it runs per row, fed the stored activations.
        """
        act, grad = self.layer(layer)
        images = np.asarray(images, np.float32)
        firsts, index = distinct_rows(images)
        if target is None or len(firsts) == len(images) or not self.cached(
                ("fed_layer", act.name), lambda: self._depends_only_through(grad, act)):
            return self.run({"logits": self.logits, "activations": act, "gradients": grad},
                            images, target, batch_size)
        target = self.check_target(target, len(images))
        once = self.run({"logits": self.logits, "activations": act}, images[firsts], batch_size=batch_size)
        activations = once["activations"][index]
        gradients = [self.session.run(grad, {act: activations[s], self.target: target[s]})
                     for s in _batches(len(images), batch_size)]
        return {"logits": once["logits"][index], "activations": activations,
                "gradients": np.concatenate(gradients)}

    def _depends_only_through(self, fetch, tensor):
        """True when ``fetch`` reaches the input pixels only through ``tensor`` (so feeding
        ``tensor`` computes it without the images)."""
        seen, stack = set(), [fetch.op]
        while stack:
            op = stack.pop()
            if op in seen:
                continue
            seen.add(op)
            if op is self.images.op:
                return False
            stack.extend(t.op for t in op.inputs if t is not tensor)
            stack.extend(op.control_inputs)
        return True

    def input_gradients(self, images, target, batch_size=32, guided=False):
        """Logits and d(score)/d(input pixels) [N,S,S,3]; guided=True uses guided backprop."""
        gradient = self.guided_input_grad if guided else self.input_grad
        return self.run({"logits": self.logits, "gradients": gradient}, images, target, batch_size)

    # -- classes and images ------------------------------------------------------------------
    def class_index(self, query):
        """Model-space index of a class given as a name (case-insensitive) or an index."""
        return resolve_class(query, self.labels)

    def label(self, index):
        return self.labels[int(index)].split(",")[0]

    def prepare(self, rgb, central_fraction=None):
        """The uint8 S x S x 3 image the network sees, from an RGB uint8 photo."""
        return crop_and_resize(rgb, self.image_size, self.preprocessing, central_fraction)

    def close(self):
        self.session.close()
