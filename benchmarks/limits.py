"""The speed limit of any explanation on a model: plain forward, forward + backward to the input
pixels, forward + backward to the CAM layer, and the head (the network above the CAM layer, fed
stored activations: what Ablation-CAM runs per channel), in one session run, at batch 1 and
batched.

Also the session settings that set that limit: intra/inter-op threads and XLA auto-clustering,
each a fresh session on the SAME graph with the model's variable values copied in, and the cost of
the plain backward under the guided-backprop gradient override against a graph built without it.
"""

import numpy as np

from benchmarks.timing import measure
from gradcam.loaders.slim import network_spec
from nets.tf_compat import tf

PASS_KEYS = {
    "forward": ["logits"],
    "fwd_bwd_input": ["logits", "input_gradients"],
    "fwd_bwd_layer": ["logits", "activations", "layer_gradients"],
    "head": ["logits"],
}  # fed the layer's activations (``pass_feed``)


def pass_fetches(model, layer=None):
    """The passes every method is made of, as session fetches (``Model.tensors``)."""
    return {name: list(model.tensors(keys, layer).values()) for name, keys in PASS_KEYS.items()}


def noisy_batch(image, n, seed=0):
    """``n`` slightly different float copies of one image (so no run sees identical rows)."""
    noise = np.random.default_rng(seed).normal(0, 2.0, (n,) + image.shape)
    return np.clip(image[None] + noise, 0, 255).astype(np.float32)


def pass_feed(model, name, image, n, target, layer=None):
    """The feed of pass ``name`` for ``n`` noisy copies of ``image``: their pixels, or for "head"
    their activations at ``layer`` (computed once, here), so the run computes only the head."""
    feed = {model.target_tensor: np.full(n, target, np.int32)}
    if name == "head":
        tensor = model.tensors(["activations"], layer)["activations"]
        feed[tensor] = model.fetch(noisy_batch(image, n), keys=["activations"], layer=layer)[
            "activations"
        ]
    else:
        feed[model.input_tensor] = noisy_batch(image, n)
    return feed


def time_passes(session, model, image, target, batch, repeats, names=None):
    """Seconds per image of each pass at batch 1 and ``batch`` -> {"<pass>_b<n>": summary}."""
    fetches = pass_fetches(model)
    out = {}
    for n in (1, batch):
        for name, fetch in fetches.items():
            if names is None or name in names:
                feed = pass_feed(model, name, image, n, target)
                out[f"{name}_b{n}"] = measure(
                    lambda fetch=fetch, feed=feed: session.run(fetch, feed), repeats, per=n
                )
    return out


def copy_session(model, config):
    """A new session on ``model.graph`` holding the model's current variable values."""
    with model.graph.as_default():
        variables = tf.global_variables()
    values = model.session.run(variables)
    session = tf.Session(graph=model.graph, config=config)
    for variable, value in zip(variables, values):
        variable.load(value, session)
    return session


def session_configs():
    """(label, ConfigProto) of the settings worth comparing on a small CPU."""

    def config(intra=0, inter=0, jit=False):
        proto = tf.ConfigProto(
            intra_op_parallelism_threads=intra, inter_op_parallelism_threads=inter
        )
        if jit:
            proto.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
        return proto

    return [
        ("TF default (intra=0, inter=0)", config()),
        ("intra=1, inter=1", config(1, 1)),
        ("intra=2, inter=1", config(2, 1)),
        ("intra=2, inter=2", config(2, 2)),
        ("XLA global_jit ON_1 (session)", config(jit=True)),
    ]


def compare_sessions(model, image, target, batch, repeats):
    """Forward and fwd+bwd-to-input per image under each session setting."""
    rows = []
    for label, config in session_configs():
        session = copy_session(model, config)
        try:
            times = time_passes(
                session, model, image, target, batch, repeats, names=("forward", "fwd_bwd_input")
            )
        finally:
            session.close()
        rows.append({"setting": label, **times})
    return rows


def plain_gradient_graph(model):
    """The same network and weights with TensorFlow's own ReLU gradients (no override)
    -> (session, images, target, input gradient)."""
    graph = tf.Graph()
    size, spec = model.image_size, network_spec(model.name)
    with graph.as_default():
        images = tf.placeholder(tf.float32, [None, size, size, 3])
        logits, _ = spec.build(model.preprocessing.normalize(images), model.num_classes)
        logits = tf.reshape(logits, [-1, model.num_classes])
        target = tf.placeholder(tf.int32, [None])
        score = tf.reduce_sum(logits * tf.one_hot(target, model.num_classes), 1)
        gradient = tf.gradients(score, images)[0]
        variables = {v.op.name: v for v in tf.global_variables()}
    with model.graph.as_default():
        source = {v.op.name: v for v in tf.global_variables()}
    values = model.session.run({name: source[name] for name in variables})
    session = tf.Session(graph=graph, config=model.session._config)
    for name, variable in variables.items():
        variable.load(values[name], session)
    return session, images, target, gradient


def guided_override_overhead(model, image, target, batch, repeats):
    """fwd+bwd-to-input per image under the override and without it, interleaved."""
    session, images, target_ph, gradient = plain_gradient_graph(model)
    try:
        x = noisy_batch(image, batch)
        t = np.full(batch, target, np.int32)
        ours = {model.input_tensor: x, model.target_tensor: t}
        theirs = {images: x, target_ph: t}
        input_grad = model.tensors(["input_gradients"])["input_gradients"]
        same = float(
            np.abs(model.session.run(input_grad, ours) - session.run(gradient, theirs)).max()
        )
        overridden, plain = [], []
        for _ in range(repeats):  # interleaved, so load changes hit both alike
            overridden.append(
                measure(lambda: model.session.run(input_grad, ours), 1, batch, 0)["median"]
            )
            plain.append(measure(lambda: session.run(gradient, theirs), 1, batch, 0)["median"])
    finally:
        session.close()
    return {
        "with_override": float(np.median(overridden)),
        "plain": float(np.median(plain)),
        "overhead": float(np.median(overridden) / np.median(plain) - 1.0),
        "max_abs_difference": same,
        "batch": batch,
    }
