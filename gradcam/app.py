"""Local web app (gradio Blocks): upload or pick a photo (shown in the upload box), choose model,
method, target class, optionally a "versus" class (why the target rather than it) and style, see
the overlay and the top-k, compare several methods, download PNG and NPZ.

Models come from a per-process cache (built once each) and requests run concurrently on them
(see ``gradcam.model_cache``). Every user-fixable problem is shown as a message, never a crash.
"""

import tempfile
import uuid
from pathlib import Path

import gradio as gr
import skimage.data
from PIL import Image

from gradcam.checkpoints import CONVERTERS, checkpoint_dir
from gradcam.errors import UserError
from gradcam.explanation import explain, explain_many, top_classes
from gradcam.images import load_image
from gradcam.methods import METHODS
from gradcam.model_cache import PROCESS_MODELS
from gradcam.visualize import STYLES, save_png
from nets.nets_factory import DEFAULT_NETWORK, NETWORKS

SAMPLE_PHOTOS = ("chelsea", "coffee", "astronaut", "rocket")
TOP_K = 5


def available_networks():
    """Registered networks whose checkpoint is here (or can be made locally, like Lite0)."""

    def available(spec):
        path = checkpoint_dir() / spec.name / (spec.checkpoint_file or "")
        return spec.name in CONVERTERS or (
            spec.checkpoint_file and (Path(f"{path}.index").exists() or path.exists())
        )

    return [name for name, spec in NETWORKS.items() if available(spec)]


def _write_samples(directory):
    paths = []
    for name in SAMPLE_PHOTOS:
        path = Path(directory) / f"{name}.png"
        Image.fromarray(getattr(skimage.data, name)()).save(path)
        paths.append(str(path))
    return paths


def photo_input(**kwargs):
    """An image box that shows the uploaded photo and hands the handler the uploaded file as it
    is: ``gradcam.images`` decodes it (EXIF orientation, first frame, size limits) and names what
    is wrong with a file that is not a readable image, where gradio's own decoding would fail
    first with a bare "Error". Its ``preprocess`` is replaced on the instance: a subclass would
    make gradio write a .pyi stub next to this module at import."""
    box = gr.Image(type="filepath", **kwargs)
    box.preprocess = lambda payload: None if payload is None else str(payload.path)
    return box


class GradcamApp:
    """The Blocks app and its request handlers. ``cache``: a ``model_cache.ModelCache``."""

    def __init__(self, cache=None, default_network=None):
        self.cache = cache or PROCESS_MODELS
        self.default_network = default_network or DEFAULT_NETWORK
        self._workdir = tempfile.TemporaryDirectory(prefix="gradcam_app_")
        self.workdir = Path(self._workdir.name)
        self.samples = _write_samples(self.workdir)
        self.blocks = self._build()

    # -- handlers (also the HTTP API) ------------------------------------------------------------
    def _input(self, path, network):
        if not path:
            raise UserError("upload an image or pick a sample first")
        model = self.cache.get(network)
        try:
            return model, model.prepare(load_image(path))
        except UserError as exc:  # name the upload, not the server's temporary copy
            raise UserError(str(exc).replace(str(path), Path(path).name)) from None

    def _target(self, model, image, target):
        """Model-space class: a picked or typed name/index; empty = the top class."""
        if target in (None, ""):
            return int(model.predict(image[None])[0].argmax())
        return model.class_index(target)

    @staticmethod
    def _versus(model, versus):
        """Model-space contrast class: a picked or typed name/index; empty = none."""
        return None if versus in (None, "") else model.class_index(versus)

    @staticmethod
    def _top_k(top):
        label = {f"{row['label']} ({row['index']})": row["probability"] for row in top}
        choices = [
            (f"{row['label']} ({row['index']}) {row['probability']:.1%}", str(row["index"]))
            for row in top
        ]
        return label, choices

    def classify(self, path, network):
        """Top-k of a new image: the label chart, the target-class choices and the versus-class
        choices (the same classes, none picked)."""
        if not path:
            return {}, gr.update(choices=[], value=None), gr.update(choices=[], value=None)
        model, image = _user_errors(self._input, path, network)
        logits = model.predict(image[None])[0]
        label, choices = self._top_k(top_classes(logits, model.labels, TOP_K, model.activation))
        every = choices + self._other_classes(model, choices)
        return (
            label,
            gr.update(choices=every, value=choices[0][1]),
            gr.update(choices=every, value=None),
        )

    @staticmethod
    def _other_classes(model, top):
        """Every other class of the model after the top ones, so typing a name filters them all."""
        shown = {value for _, value in top}
        return [
            (f"{model.label(i)} ({i})", str(i))
            for i in range(model.num_classes)
            if str(i) not in shown
        ]

    def explain(self, path, network, method, target, style, alpha, versus=None):
        """Overlay, top-k and the PNG + NPZ downloads for one method and target (rather than the
        versus class, if one is given)."""
        model, image = _user_errors(self._input, path, network)
        index = _user_errors(self._target, model, image, target)
        contrast = _user_errors(self._versus, model, versus)
        result = _user_errors(explain, model, image[None], index, method, contrast=contrast)
        _warn_degenerate(result, method)
        picture = _user_errors(result.overlay, 0, style, float(alpha))
        label, _ = self._top_k(result.top_k(TOP_K))
        return picture, label, self._downloads(path, model, method, index, picture, result)

    def compare(self, path, network, methods, target, style, alpha, versus=None):
        """Gallery of (overlay, caption), one per selected method, same target and versus class
        (the CAM family and guided Grad-CAM from one shared pass)."""
        if not methods:
            _user_errors(_raise, "select at least one method")
        model, image = _user_errors(self._input, path, network)
        index = _user_errors(self._target, model, image, target)
        contrast = _user_errors(self._versus, model, versus)
        rather = "" if contrast is None else f" vs {model.label(contrast)} ({contrast})"
        gallery = []
        results = _user_errors(
            explain_many, model, image[None], index, list(methods), contrast=contrast
        )
        for method, result in results.items():
            _warn_degenerate(result, method)
            caption = f"{method}: {model.label(index)} ({index}){rather}"
            gallery.append((_user_errors(result.overlay, 0, style, float(alpha)), caption))
        return gallery

    def _downloads(self, path, model, method, index, picture, result):
        folder = self.workdir / uuid.uuid4().hex
        folder.mkdir()
        rather = "" if result.contrast is None else f"_vs_{result.contrast}"
        stem = f"{Path(path).stem}_{model.name}_{method}_{index}{rather}"
        save_png(folder / f"{stem}.png", picture)
        result.save(folder / f"{stem}.npz")
        return [str(folder / f"{stem}.png"), str(folder / f"{stem}.npz")]

    # -- layout ------------------------------------------------------------------------------------
    def _build(self):
        networks = list(dict.fromkeys([self.default_network] + available_networks()))
        methods = sorted(METHODS)  # read now: whatever is registered when the app starts
        with gr.Blocks(title="gradcam: why does the classifier say that?") as blocks:
            gr.Markdown("## Why does the classifier say that?")
            with gr.Row():
                with gr.Column(scale=1):
                    upload = photo_input(label="Image", sources=["upload"], elem_id="upload")
                    gr.Examples([[p] for p in self.samples], inputs=[upload], label="Samples")
                    network = gr.Dropdown(networks, value=self.default_network, label="Model")
                    method = gr.Dropdown(methods, value="grad_cam", label="Method")
                    target = gr.Dropdown(
                        [],
                        label="Target class",
                        allow_custom_value=True,
                        elem_id="target",
                        info="pick one of the top classes, or "
                        "type to search every class (name or index)",
                    )
                    versus = gr.Dropdown(
                        [],
                        label="Versus class (optional)",
                        allow_custom_value=True,
                        elem_id="versus",
                        info="why the target rather than this class: explains "
                        "the target's score minus this one's; empty = none",
                    )
                    style = gr.Radio(list(STYLES), value="heatmap", label="Style")
                    alpha = gr.Slider(0.0, 1.0, value=0.5, step=0.05, label="Heatmap opacity")
                with gr.Column(scale=2):
                    with gr.Tab("Explanation"):
                        run = gr.Button("Explain", variant="primary", elem_id="explain")
                        picture = gr.Image(
                            label="Overlay",
                            type="numpy",
                            format="png",
                            interactive=False,
                            elem_id="overlay",
                        )
                        top = gr.Label(num_top_classes=TOP_K, label="Top classes", elem_id="top")
                        files = gr.File(
                            label="Download PNG and NPZ", file_count="multiple", interactive=False
                        )
                    with gr.Tab("Compare methods"):
                        chosen = gr.CheckboxGroup(methods, value=methods[:3], label="Methods")
                        run_compare = gr.Button("Compare", variant="primary")
                        gallery = gr.Gallery(
                            label="Methods side by side", columns=3, elem_id="gallery"
                        )
            classes = [top, target, versus]
            upload.change(self.classify, [upload, network], classes, api_name="classify")
            network.change(self.classify, [upload, network], classes, api_name=False)
            # versus last, optional: calls of the HTTP API without it still hold
            inputs = [upload, network, method, target, style, alpha, versus]
            run.click(self.explain, inputs, [picture, top, files], api_name="explain")
            run_compare.click(
                self.compare,
                [upload, network, chosen, target, style, alpha, versus],
                [gallery],
                api_name="compare",
            )
        return blocks

    def launch(self, host="127.0.0.1", port=7860, max_file_size="10mb", concurrency=4, **kwargs):
        """Serve (blocking unless ``prevent_thread_lock=True``); binds loopback by default."""
        self.blocks.queue(default_concurrency_limit=concurrency)
        return self.blocks.launch(
            server_name=host,
            server_port=port,
            max_file_size=max_file_size,
            allowed_paths=[str(self.workdir)],
            show_error=False,
            quiet=True,
            **kwargs,
        )

    def close(self):
        self.blocks.close()
        self._workdir.cleanup()


def _raise(message):
    raise UserError(message)


def _warn_degenerate(result, method):
    if result.degenerate[0]:
        gr.Warning(
            f"{method}: the map is all zero (a one-colour image, or no evidence for this "
            "class at this layer)"
        )


def _user_errors(function, *args, **kwargs):
    """Call ``function``; a UserError becomes a gradio error message shown to the user."""
    try:
        return function(*args, **kwargs)
    except UserError as exc:
        raise gr.Error(str(exc)) from None
