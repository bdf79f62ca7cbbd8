"""``Model``: a classifier's graph and session, and the one boundary methods talk to it through.

In the style of PAIR saliency's ``call_model_function``, ``Model.fetch(images, target, keys,
layer)`` returns numpy arrays for a closed vocabulary of named quantities (``gradcam.fetch_keys``).
Explanation methods are numpy over those arrays and never touch the graph: what they may use of a
model is ``gradcam.methods.protocol.Explainable``. The graph piece behind
each key is built inside ``Model`` on first use, once, under a lock, so concurrent callers (web
requests, Beam threads) can share one model and no call adds ops after the first. The target class
goes in through a placeholder whose default is each image's own top class.

What is explained is a ``gradcam.score.Score`` passed to ``fetch(..., score=)``: the target's
logit by default, or logit_target - logit_contrast ("why A rather than B"), or the same of the
probabilities. ``Model`` turns it into feeds of placeholders built once with the graph, so every
gradient serves every score and concurrent callers each explain their own.

A ``Model`` is made from a ``gradcam.graph.ClassifierGraph`` by composition: the constructor loads a
TF-Slim network and checkpoint (``gradcam.loaders.slim``), ``Model.from_file`` (and the constructor
given a path) a Keras .h5/.keras file, a SavedModel or a frozen GraphDef
(``gradcam.loaders.model_file``); both feed the same core. The class names are a
``gradcam.labels.Labels`` (``model.labels``), the photo preparation the ``Preprocessing`` of
``gradcam.preprocessing`` (``model.preprocessing``); ``class_index``, ``label``, ``prepare`` and
``decode_size`` are their one-line delegates. The TF handles are private; ``graph``, ``session``,
``input_tensor``, ``target_tensor`` and ``tensors`` read them for code that drives the session
itself (benchmarks, adapters), ``build_once`` adds a piece the Model-layer way
(``gradcam.objectives``).
"""

import copy
import threading
import warnings
from collections.abc import Sequence
from difflib import get_close_matches
from os import PathLike
from typing import Optional, Union

import numpy as np

from gradcam.arrays import batch_slices, distinct_rows
from gradcam.errors import UserError
from gradcam.fetch_keys import (
    ABOVE_LAYER_KEYS,
    ACTIVATIONS,
    ATTENTION_KEYS,
    FETCH_KEYS,
    GUIDED_INPUT_GRADIENTS,
    HEAD_WEIGHTS,
    INPUT_GRADIENTS,
    LAYER_GRADIENTS,
    LAYER_KEYS,
    LOGITS,
    PREFIX_TOKENS,
    PROBABILITIES,
    SCORE,
)
from gradcam.graph import (
    attention_pieces,
    building,
    depends_only_through,
    guided_gradients,
)
from gradcam.labels import Labels
from gradcam.loaders import is_model_file
from gradcam.loaders.keras_trace import is_keras_model
from gradcam.loaders.model_file import load_keras_model, load_model_file
from gradcam.loaders.slim import load_slim
from gradcam.loaders.tokens import inside_windows
from gradcam.score import LOGIT, Score
from nets.nets_factory import DEFAULT_NETWORK, NetworkSpec
from nets.tf_compat import tf


class Model:
    """A classifier ready to explain: graph, session and every gradient built once.

    Args:
        network: a registered network name (``gradcam list models``), a
            ``gradcam.NetworkSpec`` of your own, or the path of a model file (a Keras
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

    def _open(self, built, labels, threads):
        """The core every constructor ends in: outputs, target, session, weights."""
        self.name = built.name
        self._graph, self._images = built.graph, built.images
        self.input_size = tuple(built.images.shape.as_list()[1:3])  # (height, width)
        self.preprocessing = built.preprocessing
        self.default_layer = built.default_layer
        self.source = built.source
        self._layers, self._head_weights = dict(built.layers), built.head_weights
        self._prefixes = dict(built.prefixes)
        self._windowed_attention = built.windowed_attention
        self._windowed_layers = frozenset(built.windowed_layers)
        self._extra_layers, self.unguided = dict(built.extra_layers), built.unguided
        self.layer_records, self.default_reason = built.describe(), built.default_reason
        self._attention, self.attention_tokens = built.attention, built.attention_tokens
        self.activation = built.activation
        self.num_classes = int(built.logits.shape[-1])
        self.labels = Labels.for_model(labels, self.num_classes, built.label_offset)
        with building(self._graph):
            self._logits = tf.reshape(built.logits, [-1, self.num_classes])
            if self.activation == "sigmoid":
                self._probabilities = tf.sigmoid(self._logits)
            else:
                self._probabilities = tf.nn.softmax(self._logits)
            # Not fed: each image's own top class, so one-pass methods need no prediction run.
            self._target = tf.placeholder_with_default(
                tf.argmax(self._logits, 1, output_type=tf.int32), [None], name="target"
            )
            self._score = self._build_score()
        config = tf.ConfigProto(
            inter_op_parallelism_threads=1 if threads else 0,
            intra_op_parallelism_threads=threads or 0,
        )
        self._session = tf.Session(graph=self._graph, config=config)
        built.restore(self._session)
        self._lock = threading.RLock()
        self._built = {}
        self._feeds, self._owns_session = {}, True
        self.tensors(LAYER_KEYS)  # the default layer's gradient: checked and built up front

    def _build_score(self):
        """The explained score [N] (``gradcam.score.Score``), fed by two placeholders: not fed,
        no contrast (one_hot(-1) is all zeros) and the logits, so the default score is the
        target's logit, bit for bit, and so are its gradients."""
        self._contrast = tf.placeholder_with_default(-1, [], name="contrast")
        self._probability_score = tf.placeholder_with_default(False, [], name="probability_score")
        values = tf.where(self._probability_score, self._probabilities, self._logits)
        sign = tf.one_hot(self._target, self.num_classes) - tf.one_hot(
            self._contrast, self.num_classes
        )
        return tf.reduce_sum(values * sign, 1)

    # -- read-only handles, for code that drives the session itself (benchmarks, adapters) ---
    @property
    def graph(self):
        """The ``tf.Graph`` (do not add ops to it: ``build_once`` does, under the lock)."""
        return self._graph

    @property
    def session(self):
        """The ``tf.Session`` that holds the weights."""
        return self._session

    @property
    def input_tensor(self):
        """The placeholder of network-input pixels N x H x W x 3 (0..255; normalised inside)."""
        return self._images

    @property
    def target_tensor(self):
        """The target placeholder [N] (default: each image's top class)."""
        return self._target

    @property
    def logits_tensor(self):
        """The logits [N, C] (pre-softmax, or pre-sigmoid)."""
        return self._logits

    @property
    def image_size(self) -> int:
        """S of a square S x S input (``input_size`` is (H, W) of any input)."""
        height, width = self.input_size
        if height != width:
            raise UserError(f"{self.name} takes {height}x{width} images; this needs a square input")
        return height

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
        ``session`` themselves (benchmarks, adapters); feed ``input_tensor`` and ``target_tensor``
        (the score is then the default, the target's logit)."""
        with self._lock:
            return {key: self._tensor(key, layer) for key in keys}

    def _tensor(self, key, layer):
        if key in (LOGITS, PROBABILITIES, SCORE):
            return getattr(self, "_" + key)
        if key in LAYER_KEYS:
            return self._layer(layer)[key]
        if key == INPUT_GRADIENTS:
            return self._once(key, lambda: tf.gradients(self._score, self._images)[0])
        if key == GUIDED_INPUT_GRADIENTS:
            return self._once(key, self._guided_input_gradients)
        if key == HEAD_WEIGHTS:
            return self._once(key, self._target_head_weights)
        if key in ATTENTION_KEYS:
            pieces = self._once(
                "attention",
                lambda: attention_pieces(
                    self._score, self._attention, self.name, self._windowed_attention
                ),
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
        return guided_gradients(self._score, self._images)[0]

    def build_once(self, key, build):
        """``build()``'s graph piece, built once per model under its lock (as every fetch key is),
        for Model-layer extensions such as ``gradcam.objectives``; ``key`` names it."""
        with self._lock:
            return self._once(key, build)

    def _once(self, key, build):
        if key not in self._built:
            with building(self._graph):
                self._built[key] = build()
        return self._built[key]

    def _layer(self, name):
        name = name or self.default_layer
        activations = self._layers.get(name, self._extra_layers.get(name))
        if activations is None and name in self._windowed_layers:
            raise UserError(inside_windows(name))
        if activations is None:
            near = get_close_matches(name, self._layers, 5, 0.4) or list(self._layers)[-5:]
            raise UserError(
                f"unknown layer {name!r} for {self.name}; close: {', '.join(near)} "
                "(all: gradcam list layers)"
            )
        return self._once(
            ("layer", name),
            lambda: {
                ACTIVATIONS: activations,
                LAYER_GRADIENTS: tf.gradients(self._score, activations)[0],
                PREFIX_TOKENS: (
                    self._prefixes[name] if name in self._prefixes else _no_prefix(activations)
                ),
            },
        )

    def _fed(self, layer):
        """The tensors that feed ``layer``: its activations, and a token layer's prefix tokens."""
        name = layer or self.default_layer
        tensors = self.tensors([ACTIVATIONS], layer)
        prefix = self._prefixes.get(name)
        return (tensors[ACTIVATIONS],) if prefix is None else (tensors[ACTIVATIONS], prefix)

    def _target_head_weights(self):
        if self._head_weights is None:
            raise UserError(
                f"CAM needs a network ending in global average pooling + one linear "
                f"layer; {self.name} has none (use grad_cam)"
            )
        target = tf.transpose(tf.gather(self._head_weights, self._target, axis=1))
        contrast = tf.gather(self._head_weights, tf.maximum(self._contrast, 0), axis=1)
        return target - contrast * tf.cast(self._contrast >= 0, contrast.dtype)

    def _fed_by_layer(self, keys, layer):
        """True when every key of ``keys`` reaches the pixels only through ``layer`` (its
        activations, and a token layer's prefix tokens: ``_fed``)."""
        tensors = self.tensors(keys | LAYER_KEYS, layer)
        fed = self._fed(layer)
        with self._lock:
            return self._once(
                ("fed_by_layer", layer or self.default_layer, frozenset(keys)),
                lambda: all(depends_only_through(tensors[k], fed, self._images) for k in keys),
            )

    def _score_feeds(self, score):
        """Feeds of the score placeholders for ``score`` (none for the default: the graph's
        defaults are the plain logit, bit for bit)."""
        if not isinstance(score, Score):
            raise TypeError(f"score must be a gradcam.score.Score, got {score!r}")
        score = score.resolve(self.labels)
        feeds = {}
        if score.contrast is not None:
            feeds[self._contrast] = score.contrast
        if score.kind == "probability":
            feeds[self._probability_score] = True
        return feeds

    @property
    def op_count(self) -> int:
        return len(self._graph.get_operations())

    # -- running ----------------------------------------------------------------------------
    def fetch(
        self,
        images,
        target=None,
        keys: Sequence[str] = (LOGITS,),
        layer: Optional[str] = None,
        batch_size: int = 32,
        *,
        score: Score = LOGIT,
    ) -> dict:
        """Named quantities of ``images`` (see ``FETCH_KEYS``), one session run per batch.

        Args:
            images: network-input pixels N x H x W x 3 (uint8 or float in [0, 255]).
            target: one class index per image (or one for all); None = each image's top class.
            keys: names from ``FETCH_KEYS``.
            layer: the layer of "activations"/"layer_gradients" (default: ``default_layer``).
            batch_size: images per session run.
            score: the ``Score`` that "score" and every gradient are of (default: the logit).

        Returns:
            {key: numpy array with one row per image}.

        When rows repeat one image (several targets of it) and every key is determined by the
        layer, the network below the layer runs once per distinct image and only the part above it
        runs per row, fed the stored activations.
        """
        images = self.check_images(images)
        target = None if target is None else self.check_target(target, len(images))
        keys = list(keys)
        if HEAD_WEIGHTS in keys and score.kind != "logit":
            raise UserError(
                "CAM weighs the channels by the linear head's column of a logit; "
                f"{{argument}} {score.kind} does not apply to it",
                "score",
            )
        above = set(keys) - {ACTIVATIONS}
        if target is not None and above and above <= ABOVE_LAYER_KEYS and len(images) > 1:
            firsts, index = distinct_rows(images)
            if len(firsts) < len(images) and self._fed_by_layer(above, layer):
                return self._fetch_through_layer(
                    images, firsts, index, target, keys, layer, batch_size, score
                )
        return self._run(
            self.tensors(keys, layer),
            images,
            target,
            batch_slices(len(images), batch_size),
            score=score,
        )

    def _fetch_through_layer(self, images, firsts, index, target, keys, layer, batch_size, score):
        tensors = self.tensors(set(keys) | {ACTIVATIONS}, layer)
        fed = self._fed(layer)
        below = dict(enumerate(fed))
        once = self._run(below, images[firsts], None, batch_slices(len(firsts), batch_size))
        stored = {tensor: once[i][index] for i, tensor in below.items()}
        rest = {k: tensors[k] for k in keys if k != ACTIVATIONS}
        out = self._run(
            rest,
            None,
            target,
            batch_slices(len(index), batch_size),
            feeds=stored,
            score=score,
        )
        return {k: stored[fed[0]] if k == ACTIVATIONS else out[k] for k in keys}

    def fetch_above(
        self,
        activations,
        target=None,
        keys: Sequence[str] = (LOGITS,),
        layer: Optional[str] = None,
        batch_size: int = 32,
        *,
        score: Score = LOGIT,
        prefix=None,
        images=None,
    ) -> dict:
        """Named quantities computed from the activations of ``layer`` by the part of the network
        above it (nothing below the layer runs): for edited feature maps, e.g. a channel zeroed.
        Where the network also reaches the pixels around the layer (a skip connection, a
        transformer block's residual), ``images`` gives them: the bypass is computed from the
        pixels and the layer's output is replaced by ``activations``, a whole forward pass with
        that one layer edited.

        Args:
            activations: [N, h, w, c] feature maps of ``layer`` (e.g. from ``fetch``, edited).
            target: one class index per row (or one for all); None = each row's top class.
            keys: names from ``FETCH_KEYS`` that the layer determines: logits, probabilities,
                score, layer_gradients.
            layer: the layer fed (default: ``default_layer``).
            batch_size: rows per session run.
            score: the ``Score`` explained, as for ``fetch``.
            prefix: [N, k, c] prefix tokens of a token layer with k > 0 (fetch key
                ``prefix_tokens``), fed with its map: the layer's whole output; required there
                (the class token also carries the image to the head), ignored when k = 0.
            images: network-input pixels N x H x W x 3, the image of each row; fed only where the
                layer's output does not determine ``keys`` (ignored elsewhere: nothing below the
                layer runs there).

        Returns:
            {key: numpy array with one row per row of ``activations``}.

        Raises:
            UserError: a key the layer's output does not determine and ``images`` not given (the
                network also reaches the pixels around the layer, e.g. through a skip
                connection), a shape mismatch, or a token layer's prefix tokens missing.
        """
        keys = list(keys)
        tensor = self.tensors([ACTIVATIONS], layer)[ACTIVATIONS]
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
        around = not unknown and not self._fed_by_layer(set(keys), layer)
        if unknown or (around and images is None):
            what = unknown[0] if unknown else ", ".join(keys)
            raise UserError(
                f"the output of layer {layer or self.default_layer!r} does not "
                f"determine {what} of {self.name} (the network reaches the pixels "
                "other than through it: a skip connection, a transformer block's residual)"
                + ("" if unknown else "; give the pixels too (images=)")
            )
        feeds, fed = {tensor: activations}, self._fed(layer)
        if around:
            feeds[self._images] = self._check_bypass(images, len(activations))
        if len(fed) > 1:
            feeds[fed[1]] = self._check_prefix(prefix, fed[1], len(activations), layer)
        target = None if target is None else self.check_target(target, len(activations))
        return self._run(
            self.tensors(keys, layer),
            None,
            target,
            batch_slices(len(activations), batch_size),
            feeds=feeds,
            score=score,
        )

    def _check_bypass(self, images, rows):
        """``images`` as the network-input pixels of ``rows`` rows (UserError)."""
        images = self.check_images(images)
        if len(images) != rows:
            raise UserError(
                f"images= must give one image per row of activations ({rows}), got {len(images)}"
            )
        return images

    def _check_prefix(self, prefix, tensor, rows, layer):
        """``prefix`` as float32 [rows, k, c] for the prefix tokens ``tensor`` (UserError)."""
        count, channels = tensor.shape.as_list()[1:]
        name = layer or self.default_layer
        if prefix is None:
            raise UserError(
                f"layer {name!r} has {count} prefix tokens beside its map: give them "
                f"(prefix=, fetch key {PREFIX_TOKENS})"
            )
        prefix = np.asarray(prefix, np.float32)
        if prefix.shape != (rows, count, channels):
            raise UserError(
                f"prefix tokens of layer {name!r} must be {rows} x {count} x {channels}, "
                f"got {prefix.shape}"
            )
        return prefix

    def _run(self, tensors, images, target, batches, feeds=None, score=LOGIT):
        """Session runs over ``batches`` (slices); ``feeds`` maps extra tensors to row arrays."""
        parts = {k: [] for k in tensors}
        scoring = self._score_feeds(score)
        for s in batches:
            feed = {t: v[s] for t, v in (feeds or {}).items()}
            feed.update(self._feeds)
            feed.update(scoring)
            if images is not None:
                feed[self._images] = images[s]
            if target is not None:
                feed[self._target] = target[s]
            for k, v in self._session.run(tensors, feed).items():
                parts[k].append(v)
        return {k: v[0] if len(v) == 1 else np.concatenate(v) for k, v in parts.items()}

    def check_images(self, images) -> np.ndarray:
        """Network-input pixels N x H x W x 3 as float32; UserError for another shape or NaNs."""
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
        return self.fetch(images, keys=[LOGITS], batch_size=batch_size)[LOGITS]

    # -- thin delegates of the public API (README) ----------------------------------------
    def class_index(self, query) -> int:
        """``self.labels.class_index``: the index of a class given by name or index."""
        return self.labels.class_index(query)

    def label(self, index) -> str:
        """``self.labels.label``: the short name of class ``index``."""
        return self.labels.label(index)

    def prepare(self, photo, central_fraction: Optional[float] = None) -> np.ndarray:
        """``self.preprocessing.prepare`` at this model's input size: the uint8 H x W x 3 image
        the network sees, from an RGB photo or a ``gradcam.images.ScaledImage``."""
        return self.preprocessing.prepare(photo, self.input_size, central_fraction)

    def decode_size(self, central_fraction: Optional[float] = None) -> tuple:
        """``self.preprocessing.decode_size`` at this model's input size: the (min_width,
        min_height) to decode photos at (``gradcam.images.load_scaled(path, model.decode_size())``)."""
        return self.preprocessing.decode_size(max(self.input_size), central_fraction)

    def with_feeds(self, feeds: dict) -> "Model":
        """A view of this model (same graph, session, built pieces and labels) whose every run
        also feeds ``feeds`` ({graph tensor: array}): other values for tensors of the graph, e.g.
        random weights in place of a frozen graph's weight constants (the randomisation check of
        ``gradcam.method_trust``). This model is left as it is; closing the view leaves the
        session open."""
        view = copy.copy(self)
        view._feeds, view._owns_session = {**self._feeds, **feeds}, False
        return view

    def close(self):
        if self._owns_session:
            self._session.close()


def _no_prefix(activations):
    """The prefix tokens of a layer without any: N x 0 x c."""
    shape = tf.shape(activations)
    return tf.zeros(tf.stack([shape[0], 0, shape[-1]]), activations.dtype)
