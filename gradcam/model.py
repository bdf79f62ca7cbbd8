"""``Model``: a classifier's graph and session, and the one boundary methods talk to it through.

In the style of PAIR saliency's ``call_model_function``, ``Model.fetch(images, target, keys,
layer)`` returns numpy arrays for a closed vocabulary of named quantities (``FETCH_KEYS``).
Explanation methods are numpy over those arrays and never touch the graph. The graph piece behind
each key is built inside ``Model`` on first use, once, under a lock, so concurrent callers (web
requests, Beam threads) can share one model and no call adds ops after the first. The target class
goes in through a placeholder whose default is each image's own top class.

What is explained is the "score": the target's logit by default. ``Model.scoring`` gives a view
of the model (same graph, session and built pieces) that explains logit_target - logit_contrast
("why A rather than B"), or the softmax probability instead of the logit; both are fed to
placeholders built once with the graph, so every gradient serves every score.

A ``Model`` is made from a ``gradcam.graph.ClassifierGraph`` by composition: the constructor loads a
TF-Slim network and checkpoint (``gradcam.loaders.slim``), ``Model.from_file`` (and the constructor
given a path) a Keras .h5/.keras file, a SavedModel or a frozen GraphDef
(``gradcam.loaders.model_file``); both feed the same core.
"""

import copy
import threading
import warnings
from collections.abc import Sequence
from difflib import get_close_matches
from os import PathLike
from pathlib import Path
from typing import Optional, Union

import numpy as np

from gradcam.arrays import SCORES, batch_slices, class_scores, distinct_rows, probabilities_of
from gradcam.errors import UserError
from gradcam.graph import (
    ATTENTION_KEYS,
    attention_pieces,
    building,
    depends_only_through,
    guided_gradients,
)
from gradcam.images import ScaledImage
from gradcam.labels import labels_for, read_label_file, resolve_class, short_label
from gradcam.loaders.keras_trace import is_keras_model
from gradcam.loaders.model_file import load_keras_model, load_model_file
from gradcam.loaders.slim import load_slim
from gradcam.preprocessing import crop_and_resize, decode_size
from nets.nets_factory import DEFAULT_NETWORK, NETWORKS, NetworkSpec
from nets.tf_compat import tf

# The named quantities of ``Model.fetch``; per row of images, with the row's target:
FETCH_KEYS = {
    "logits": "pre-softmax (or pre-sigmoid) class scores [N, C]",
    "probabilities": "softmax of the logits [N, C] (sigmoid of each for a sigmoid head)",
    "score": "the explained score [N], the quantity every gradient is taken of: the target's "
    "logit, minus the contrast class's, or the same of probabilities (Model.scoring)",
    "activations": "the layer's feature map [N, h, w, c]",
    "layer_gradients": "d score / d activations [N, h, w, c]",
    "input_gradients": "d score / d input pixels [N, S, S, 3]",
    "guided_input_gradients": "guided-backprop d score / d input pixels [N, S, S, 3]",
    "head_weights": "the target's column of the final linear layer, minus the contrast's [N, C_in] "
    "(CAM)",
    **ATTENTION_KEYS,
}
MODEL_FILE_SUFFIXES = (".h5", ".hdf5", ".keras", ".pb")
LAYER_KEYS = frozenset({"activations", "layer_gradients"})
# Keys that a layer's activations determine (with the target): rows repeating one image can run
# the network below the layer once and feed the stored activations to the part above it.
ABOVE_LAYER_KEYS = frozenset({"logits", "probabilities", "score", "layer_gradients"})


class Model:
    """A classifier ready to explain: graph, session and every gradient built once.

    Args:
        network: a registered network name (``gradcam list models``), a
            ``nets.nets_factory.NetworkSpec`` of your own, or the path of a model file (a Keras
            .h5/.keras, a SavedModel directory, a frozen .pb: see ``Model.from_file``).
        checkpoint: checkpoint prefix or directory; default: the network's own under GRADCAM_HOME.
        num_classes: size of a fine-tuned logits layer (default: the network's).
        labels: class names in the model's label space, or a Slim label file (``id:name`` per
            line); default: ImageNet's names when the class count fits, else "class i".
        threads: intra-op threads of the session (inter-op then uses 1); None lets TF choose.
        trust_code: for a Keras model file only: load it even when its config holds Lambda layers
            or custom objects (their stored code runs); refused otherwise.
        input_size: for a registered network: (H, W) to run it at instead of its S x S, where the
            network allows it (e.g. (160, 256) for EfficientNet-Lite0).

    Raises:
        UserError: unknown network, missing or mismatching checkpoint, bad labels, a model file
            that is corrupt, untrusted or cannot be explained.
    """

    def __init__(
        self,
        network: Union[str, PathLike, NetworkSpec] = DEFAULT_NETWORK,
        checkpoint: Optional[Union[str, PathLike]] = None,
        *,
        num_classes: Optional[int] = None,
        labels: Optional[Union[Sequence[str], str, PathLike]] = None,
        threads: Optional[int] = None,
        trust_code: bool = False,
        input_size: Optional[tuple] = None,
    ):
        if is_keras_model(network):  # a live keras.Model / tf_keras model: traced like a file
            built = load_keras_model(network, num_classes=num_classes)
        elif is_model_file(network):
            if checkpoint is not None:
                raise UserError(
                    "a checkpoint does not apply to a model file (its weights are in it)"
                )
            built = load_model_file(network, trust_code=trust_code, num_classes=num_classes)
        else:
            built = load_slim(network, checkpoint, num_classes, input_size)
        self._open(built, labels, threads)

    @classmethod
    def from_file(
        cls,
        path: Union[str, PathLike],
        *,
        trust_code: bool = False,
        image_size: Optional[int] = None,
        preprocessing: Optional[str] = None,
        layer_tensor: Optional[str] = None,
        input_tensor: Optional[str] = None,
        logits_tensor: Optional[str] = None,
        num_classes: Optional[int] = None,
        labels=None,
        threads: Optional[int] = None,
        tags: Sequence[str] = ("serve",),
        tokens: Optional[int] = None,
        grid: Optional[tuple] = None,
    ) -> "Model":
        """A Keras .h5 or .keras file, a SavedModel directory (TF2 or TF1) or a frozen GraphDef
        .pb; input, logits (pre-softmax or pre-sigmoid), layers and the default layer are found,
        each overridable (see ``gradcam.loaders.model_file.load_model_file`` for the arguments;
        ``labels`` and ``threads`` as for the constructor)."""
        model = cls.__new__(cls)
        model._open(
            load_model_file(
                path,
                trust_code=trust_code,
                image_size=image_size,
                preprocessing=preprocessing,
                layer_tensor=layer_tensor,
                input_tensor=input_tensor,
                logits_tensor=logits_tensor,
                num_classes=num_classes,
                tags=tags,
                tokens=tokens,
                grid=grid,
            ),
            labels,
            threads,
        )
        return model

    @classmethod
    def from_graph(
        cls,
        path: Union[str, PathLike],
        *,
        input_tensor: str,
        logits_tensor: str,
        layer_tensor: str,
        preprocessing: str,
        image_size: Optional[int] = None,
        num_classes: Optional[int] = None,
        labels=None,
        threads: Optional[int] = None,
        tags: Sequence[str] = ("serve",),
    ) -> "Model":
        """A frozen GraphDef (.pb) or SavedModel directory explained through named tensors:
        ``from_file`` with every tensor given."""
        return cls.from_file(
            path,
            input_tensor=input_tensor,
            logits_tensor=logits_tensor,
            layer_tensor=layer_tensor,
            preprocessing=preprocessing,
            image_size=image_size,
            num_classes=num_classes,
            labels=labels,
            threads=threads,
            tags=tags,
        )

    def _open(self, built, labels, threads):
        """The core every constructor ends in: outputs, target, session, weights."""
        self.name = built.name
        self.graph, self.images = built.graph, built.images
        self.input_size = tuple(built.images.shape.as_list()[1:3])  # (height, width)
        self.preprocessing = built.preprocessing
        self.default_layer = built.default_layer
        self.source = built.source
        self._layers, self._head_weights = dict(built.layers), built.head_weights
        self._extra_layers, self.unguided = dict(built.extra_layers), built.unguided
        self.layer_records, self.default_reason = built.describe(), built.default_reason
        self._attention, self.attention_tokens = built.attention, built.attention_tokens
        self.activation = built.activation
        self.num_classes = int(built.logits.shape[-1])
        self.labels = self._labels(labels, built.label_offset)
        with building(self.graph):
            self.logits = tf.reshape(built.logits, [-1, self.num_classes])
            if self.activation == "sigmoid":
                self.probabilities = tf.sigmoid(self.logits)
            else:
                self.probabilities = tf.nn.softmax(self.logits)
            # Not fed: each image's own top class, so one-pass methods need no prediction run.
            self.target = tf.placeholder_with_default(
                tf.argmax(self.logits, 1, output_type=tf.int32), [None], name="target"
            )
            # Not fed: no contrast (one_hot(-1) is all zeros) and the logits, so the default score
            # is the target's logit, bit for bit, and so are its gradients.
            self.contrast = tf.placeholder_with_default(-1, [], name="contrast")
            self.probability_score = tf.placeholder_with_default(
                False, [], name="probability_score"
            )
            values = tf.where(self.probability_score, self.probabilities, self.logits)
            sign = tf.one_hot(self.target, self.num_classes) - tf.one_hot(
                self.contrast, self.num_classes
            )
            self.score = tf.reduce_sum(values * sign, 1)
        config = tf.ConfigProto(
            inter_op_parallelism_threads=1 if threads else 0,
            intra_op_parallelism_threads=threads or 0,
        )
        self.session = tf.Session(graph=self.graph, config=config)
        built.restore(self.session)
        self._lock = threading.RLock()
        self._built = {}
        self.contrast_class, self.score_kind = None, "logit"
        self.tensors(LAYER_KEYS)  # the default layer's gradient: checked and built up front

    @property
    def image_size(self) -> int:
        """S of a square S x S input (``input_size`` is (H, W) of any input)."""
        height, width = self.input_size
        if height != width:
            raise UserError(f"{self.name} takes {height}x{width} images; this needs a square input")
        return height

    def _labels(self, labels, label_offset):
        if isinstance(labels, (str, PathLike)):
            labels = read_label_file(labels, self.num_classes)
        labels = list(labels) if labels is not None else labels_for(label_offset, self.num_classes)
        if len(labels) != self.num_classes:
            raise UserError(
                f"{len(labels)} labels given for a model with {self.num_classes} classes"
            )
        return labels

    # -- graph pieces, each built once under the lock ----------------------------------------
    @property
    def layer_names(self) -> list:
        """Layers usable for the CAM family (4-D feature maps), input side first."""
        return list(self._layers)

    @property
    def layer_shapes(self) -> dict:
        """{layer: (h, w, c)} of ``layer_names`` (None where a size is not fixed)."""
        return {name: tuple(t.shape.as_list()[1:]) for name, t in self._layers.items()}

    def tensors(self, keys, layer: Optional[str] = None) -> dict:
        """The graph tensors behind fetch ``keys`` (built now if new), for callers that drive
        ``self.session`` themselves (benchmarks, adapters); feed ``self.images``/``self.target``
        (and ``self.contrast``/``self.probability_score`` for another score, see ``scoring``)."""
        with self._lock:
            return {key: self._tensor(key, layer) for key in keys}

    def _tensor(self, key, layer):
        if key in ("logits", "probabilities", "score"):
            return getattr(self, key)
        if key in LAYER_KEYS:
            return self._layer(layer)[key]
        if key == "input_gradients":
            return self._once(key, lambda: tf.gradients(self.score, self.images)[0])
        if key == "guided_input_gradients":
            return self._once(key, self._guided_input_gradients)
        if key == "head_weights":
            return self._once(key, self._target_head_weights)
        if key in ATTENTION_KEYS:
            pieces = self._once(
                "attention", lambda: attention_pieces(self.score, self._attention, self.name)
            )
            return pieces[key]
        raise ValueError(f"unknown fetch key {key!r}; keys: {', '.join(FETCH_KEYS)}")

    def _guided_input_gradients(self):
        if self.unguided:  # said once per model: this is built once
            warnings.warn(
                f"{self.name}: guided backprop has rules for ReLU and ReLU6 only; "
                f"{', '.join(self.unguided)} pass plain gradients",
                stacklevel=2,
            )
        return guided_gradients(self.score, self.images)[0]

    def _once(self, key, build):
        if key not in self._built:
            with building(self.graph):
                self._built[key] = build()
        return self._built[key]

    def _layer(self, name):
        name = name or self.default_layer
        activations = self._layers.get(name, self._extra_layers.get(name))
        if activations is None:
            near = get_close_matches(name, self._layers, 5, 0.4) or list(self._layers)[-5:]
            raise UserError(
                f"unknown layer {name!r} for {self.name}; close: {', '.join(near)} "
                "(all: gradcam list layers)"
            )
        return self._once(
            ("layer", name),
            lambda: {
                "activations": activations,
                "layer_gradients": tf.gradients(self.score, activations)[0],
            },
        )

    def _target_head_weights(self):
        if self._head_weights is None:
            raise UserError(
                f"CAM needs a network ending in global average pooling + one linear "
                f"layer; {self.name} has none (use grad_cam)"
            )
        target = tf.transpose(tf.gather(self._head_weights, self.target, axis=1))
        contrast = tf.gather(self._head_weights, tf.maximum(self.contrast, 0), axis=1)
        return target - contrast * tf.cast(self.contrast >= 0, contrast.dtype)

    def _fed_by_layer(self, keys, layer):
        """True when every key of ``keys`` reaches the pixels only through ``layer``."""
        tensors = self.tensors(keys | LAYER_KEYS, layer)
        with self._lock:
            return self._once(
                ("fed_by_layer", layer or self.default_layer, frozenset(keys)),
                lambda: all(
                    depends_only_through(tensors[k], tensors["activations"], self.images)
                    for k in keys
                ),
            )

    # -- what is explained -----------------------------------------------------------------------
    def scoring(self, contrast=None, score: str = "logit") -> "Model":
        """A view of this model whose fetches explain another score; same graph, session, labels
        and built pieces (nothing is built), and this model is left as it is, so concurrent
        callers each take their own view.

        Args:
            contrast: a class (name or index) whose score is subtracted from the target's, "why the
                target rather than this class"; None = no contrast.
            score: "logit" (pre-softmax) or "probability" (softmax; sigmoid for a sigmoid head).

        Returns:
            A ``Model`` whose "score" (and so every gradient, and ``score_of``) is
            score[target] - score[contrast]; the model itself when nothing changes. Closing
            either closes both (one session).
        """
        if score not in SCORES:
            raise UserError(
                f"unknown {{argument}} {score!r}; valid scores: {', '.join(SCORES)}", "score"
            )
        index = None if contrast is None else self.class_index(contrast)
        if (index, score) == (self.contrast_class, self.score_kind):
            return self
        view = copy.copy(self)
        view.contrast_class, view.score_kind = index, score
        return view

    def score_of(self, logits, target) -> np.ndarray:
        """The score this model explains (see ``scoring``), from logits [N, C] and one target per
        row (or one for all), in numpy: for perturbation methods that score many copies of an
        image from one forward each."""
        values = (
            np.asarray(logits)
            if self.score_kind == "logit"
            else probabilities_of(logits, self.activation)
        )  # as "probabilities": sigmoid per class too
        return class_scores(values, target, self.contrast_class)

    def _score_feeds(self):
        feeds = {}
        if self.contrast_class is not None:
            feeds[self.contrast] = self.contrast_class
        if self.score_kind == "probability":
            feeds[self.probability_score] = True
        return feeds

    @property
    def op_count(self) -> int:
        return len(self.graph.get_operations())

    # -- running ----------------------------------------------------------------------------
    def fetch(
        self,
        images,
        target=None,
        keys: Sequence[str] = ("logits",),
        layer: Optional[str] = None,
        batch_size: int = 32,
    ) -> dict:
        """Named quantities of ``images`` (see ``FETCH_KEYS``), one session run per batch.

        Args:
            images: network-input pixels N x S x S x 3 (uint8 or float in [0, 255]).
            target: one class index per image (or one for all); None = each image's top class.
            keys: names from ``FETCH_KEYS``.
            layer: the layer of "activations"/"layer_gradients" (default: ``default_layer``).
            batch_size: images per session run.

        Returns:
            {key: numpy array with one row per image}.

        When rows repeat one image (several targets of it) and every key is determined by the
        layer, the network below the layer runs once per distinct image and only the part above it
        runs per row, fed the stored activations.
        """
        images = self._checked_images(images)
        target = None if target is None else self.check_target(target, len(images))
        keys = list(keys)
        if "head_weights" in keys and self.score_kind != "logit":
            raise UserError(
                "CAM weighs the channels by the linear head's column of a logit; "
                f"{{argument}} {self.score_kind} does not apply to it",
                "score",
            )
        above = set(keys) - {"activations"}
        if target is not None and above and above <= ABOVE_LAYER_KEYS and len(images) > 1:
            firsts, index = distinct_rows(images)
            if len(firsts) < len(images) and self._fed_by_layer(above, layer):
                return self._fetch_through_layer(
                    images, firsts, index, target, keys, layer, batch_size
                )
        return self._run(
            self.tensors(keys, layer), images, target, batch_slices(len(images), batch_size)
        )

    def _fetch_through_layer(self, images, firsts, index, target, keys, layer, batch_size):
        tensors = self.tensors(set(keys) | {"activations"}, layer)
        activations = tensors["activations"]
        once = self._run(
            {"activations": activations},
            images[firsts],
            None,
            batch_slices(len(firsts), batch_size),
        )["activations"][index]
        rest = {k: tensors[k] for k in keys if k != "activations"}
        out = self._run(
            rest, None, target, batch_slices(len(index), batch_size), feeds={activations: once}
        )
        return {k: once if k == "activations" else out[k] for k in keys}

    def fetch_above(
        self,
        activations,
        target=None,
        keys: Sequence[str] = ("logits",),
        layer: Optional[str] = None,
        batch_size: int = 32,
    ) -> dict:
        """Named quantities computed from the activations of ``layer`` by the part of the network
        above it (nothing below the layer runs): for edited feature maps, e.g. a channel zeroed.

        Args:
            activations: [N, h, w, c] feature maps of ``layer`` (e.g. from ``fetch``, edited).
            target: one class index per row (or one for all); None = each row's top class.
            keys: names from ``FETCH_KEYS`` that the layer determines: logits, probabilities,
                score, layer_gradients.
            layer: the layer fed (default: ``default_layer``).
            batch_size: rows per session run.

        Returns:
            {key: numpy array with one row per row of ``activations``}.

        Raises:
            UserError: a key the layer's output does not determine (the network also reaches the
                pixels around the layer, e.g. through a skip connection), or a shape mismatch.
        """
        keys = list(keys)
        tensor = self.tensors(["activations"], layer)["activations"]
        activations = np.asarray(activations, np.float32)
        expected = tensor.shape.as_list()[1:]  # None where the graph leaves a size open
        if activations.ndim != 4 or any(
            e not in (None, a) for e, a in zip(expected, activations.shape[1:])
        ):
            shape = " x ".join("?" if e is None else str(e) for e in expected)
            raise UserError(
                f"activations of layer {layer or self.default_layer!r} must be "
                f"N x {shape}, got {activations.shape}"
            )
        unknown = [k for k in keys if k not in ABOVE_LAYER_KEYS]
        if unknown or not self._fed_by_layer(set(keys), layer):
            what = unknown[0] if unknown else ", ".join(keys)
            raise UserError(
                f"the output of layer {layer or self.default_layer!r} does not "
                f"determine {what} of {self.name} (the network reaches the pixels "
                "other than through it)"
            )
        target = None if target is None else self.check_target(target, len(activations))
        return self._run(
            self.tensors(keys, layer),
            None,
            target,
            batch_slices(len(activations), batch_size),
            feeds={tensor: activations},
        )

    def _run(self, tensors, images, target, batches, feeds=None):
        """Session runs over ``batches`` (slices); ``feeds`` maps extra tensors to row arrays."""
        parts = {k: [] for k in tensors}
        scoring = self._score_feeds()
        for s in batches:
            feed = {t: v[s] for t, v in (feeds or {}).items()}
            feed.update(scoring)
            if images is not None:
                feed[self.images] = images[s]
            if target is not None:
                feed[self.target] = target[s]
            for k, v in self.session.run(tensors, feed).items():
                parts[k].append(v)
        return {k: np.concatenate(v) for k, v in parts.items()}

    def _checked_images(self, images):
        images = np.asarray(images)
        height, width = self.input_size
        if images.ndim != 4 or images.shape[1:] != (height, width, 3):
            raise UserError(f"images must be N x {height} x {width} x 3, got {images.shape}")
        if not np.issubdtype(images.dtype, np.integer) and not np.all(np.isfinite(images)):
            raise UserError("input image contains NaN or infinite values")
        return images.astype(np.float32, copy=False)

    def check_target(self, target, n: int) -> np.ndarray:
        """``target`` as one int32 class index per row (a single one is repeated), range-checked."""
        target = np.asarray(target, np.int64).reshape(-1)
        if target.size == 1:
            target = np.broadcast_to(target, (n,))
        if target.shape != (n,):
            raise UserError(f"need one target per image: {n} images, {target.size} targets")
        bad = target[(target < 0) | (target >= self.num_classes)]
        if bad.size:
            raise UserError(f"class index {int(bad[0])} out of range 0..{self.num_classes - 1}")
        return target.astype(np.int32)

    def predict(self, images, batch_size: int = 32) -> np.ndarray:
        """Logits [N, C] of network-input images."""
        return self.fetch(images, keys=["logits"], batch_size=batch_size)["logits"]

    def unit_gradients(self, images, layer: str, channel: int, unit=None) -> dict:
        """The mean over positions of ``channel`` of ``layer`` (or, with ``unit`` = (y, x), its value
        there) and its gradient with respect to the input pixels: {"objective": [N],
        "input_gradients": [N, S, S, 3]} (activation maximisation)."""
        activations = self.tensors(["activations"], layer)["activations"]
        _, height, width, channels = activations.shape.as_list()
        if not 0 <= channel < channels:
            raise UserError(f"channel {channel} out of range 0..{channels - 1} for layer {layer!r}")
        if unit is not None and not (0 <= unit[0] < height and 0 <= unit[1] < width):
            raise UserError(
                f"unit {tuple(unit)} outside the {height} x {width} map of layer {layer!r}"
            )
        with self._lock:
            pieces = self._once(("unit", layer), lambda: self._unit_objectives(activations))
        which = "unit" if unit is not None else "mean"
        feeds = {pieces["channel"]: int(channel)}
        if unit is not None:
            feeds[pieces["position"]] = [int(unit[0]), int(unit[1])]
        fetches = {"objective": pieces[which], "input_gradients": pieces[f"{which}_gradients"]}
        return self.session.run(fetches, {self.images: self._checked_images(images), **feeds})

    def _unit_objectives(self, activations):
        channel = tf.placeholder(tf.int32, [], "channel")
        position = tf.placeholder_with_default([0, 0], [2], "unit")
        chosen = tf.gather(activations, channel, axis=-1)  # [N, h, w]
        mean = tf.reduce_mean(chosen, axis=[1, 2])
        unit = tf.gather(tf.gather(chosen, position[0], axis=1), position[1], axis=1)
        return {
            "channel": channel,
            "position": position,
            "mean": mean,
            "unit": unit,
            "mean_gradients": tf.gradients(mean, self.images)[0],
            "unit_gradients": tf.gradients(unit, self.images)[0],
        }

    # -- classes and images ------------------------------------------------------------------
    def class_index(self, query) -> int:
        """Model-space index of a class given as a name (any synonym, case-insensitive) or index."""
        return resolve_class(query, self.labels)

    def label(self, index) -> str:
        """Short name of class ``index`` (its first synonym)."""
        return short_label(self.labels, index)

    def prepare(self, photo, central_fraction: Optional[float] = None) -> np.ndarray:
        """The uint8 S x S x 3 image the network sees, from an RGB uint8 photo (the
        preprocessing's crop and resize; ``central_fraction`` overrides its crop), or from a
        ``gradcam.images.ScaledImage`` (a photo decoded reduced: the crop is placed in the full
        photo's coordinates)."""
        if isinstance(photo, ScaledImage):
            return crop_and_resize(
                photo.pixels,
                self.input_size,
                self.preprocessing,
                central_fraction,
                photo.factor,
                photo.full_size,
            )
        return crop_and_resize(photo, self.input_size, self.preprocessing, central_fraction)

    def decode_size(self, central_fraction: Optional[float] = None) -> tuple:
        """(min_width, min_height) at which to decode photos for ``prepare``
        (``gradcam.images.load_scaled(path, model.decode_size())``; see ``gradcam.images``)."""
        return decode_size(self.preprocessing, max(self.input_size), central_fraction)

    def close(self):
        self.session.close()


def is_model_file(network) -> bool:
    """True when ``network`` names a model file rather than a registered network: a path object,
    or a string that is not a registered name and names an existing file or directory."""
    if isinstance(network, PathLike):
        return True
    return (
        isinstance(network, str)
        and network not in NETWORKS
        and (Path(network).exists() or Path(network).suffix.lower() in MODEL_FILE_SUFFIXES)
    )
