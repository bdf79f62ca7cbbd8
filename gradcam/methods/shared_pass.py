"""Methods that need one forward pass and some backward paths share that pass.

Grad-CAM, Grad-CAM++, CAM and guided Grad-CAM differ only in what they fetch from one run of the
network (the layer's activations, their gradients, the head's weights for the target, the guided
input gradient) and how they combine it. Each is written as ``combine(model, out)`` under
``pass_method(fetches)``, which gives it the registry's call shape; ``run_pass`` fetches the union
of several such methods' needs in one session run per batch (``gradcam.explain.explain_many``).
"""
import functools

LAYER_ONLY = frozenset({"activations", "gradients"})


def _tensor(model, name, layer):
    if name == "activations":
        return model.layer(layer)[0]
    if name == "gradients":
        return model.layer(layer)[1]
    if name == "guided":
        return model.guided_input_grad
    if name == "head_weights":
        from gradcam.methods.cam import target_head_weights

        return target_head_weights(model)
    raise ValueError(f"unknown shared fetch {name!r}")


def run_pass(model, images, target, fetches, layer=None, batch_size=32):
    """Logits and every named fetch of ``images`` from one run per batch. Layer-only fetches go
    through ``Model.layer_and_gradients`` (which runs the network below the layer once per
    distinct image when rows repeat one image for several classes)."""
    if set(fetches) <= LAYER_ONLY:
        return model.layer_and_gradients(images, target, layer, batch_size)
    tensors = {"logits": model.logits, **{name: _tensor(model, name, layer) for name in fetches}}
    return model.run(tensors, images, target, batch_size)


def pass_method(fetches):
    """Decorator: ``combine(model, out) -> Attribution`` becomes a registry method
    ``fn(model, images, target, layer=None, batch_size=32)``; ``fn.fetches`` and ``fn.combine``
    let ``explain_many`` run several such methods on one pass."""
    def wrap(combine):
        @functools.wraps(combine)
        def method(model, images, target, layer=None, batch_size=32):
            return combine(model, run_pass(model, images, target, fetches, layer, batch_size))

        del method.__wrapped__  # its signature is the registry's call shape, not combine's
        method.fetches, method.combine = tuple(fetches), combine
        return method

    return wrap
