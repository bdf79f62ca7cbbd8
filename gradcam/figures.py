"""Multi-method figures: one row per image, the input then one panel per explanation method."""

import time
import warnings

import numpy as np

from gradcam import postprocess
from gradcam.errors import UserError
from gradcam.explanation import explain
from gradcam.score import Score
from gradcam.visualize import new_figure, overlay


def method_panel(image, explanation_map, display, alpha=0.5):
    """A "positive" display (a map) as a heatmap over the image; a "magnitude" display (a
    per-pixel attribution) as a grayscale image."""
    if display == "positive":
        return overlay(image, explanation_map, "heatmap", alpha)
    grey = np.clip(np.asarray(explanation_map) * 255.0, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def comparison_rows(
    model,
    named_images,
    methods,
    options,
    target=None,
    layer=None,
    batch_size=32,
    log=print,
    contrast=None,
    score="logit",
):
    """Explain every (name, network-input image) with every method -> (rows for
    ``comparison_figure``, {name: {target, label, seconds per method}}).

    Each method's maps share one colour scale over all images (its column), so a weaker
    explanation looks weaker. ``target``: class index for every image, default each one's top
    class; ``contrast``, ``score``: as for ``explain`` (the target rather than ``contrast``). A
    method that cannot run on the model (e.g. CAM without a linear head) leaves its panels blank
    with a warning."""
    targets = {
        name: int(model.predict(image[None])[0].argmax()) if target is None else target
        for name, image in named_images
    }
    rather = Score.of_arguments(score, contrast).resolve(model.labels).contrast
    if rather is not None and rather in targets.values():
        raise UserError(
            f"the contrast class {model.label(rather)} ({rather}) is also the target "
            "of an image: explain one class rather than another"
        )
    versus = "" if rather is None else f" vs {model.label(rather)}"
    columns, record = (
        [],
        {
            name: {"target": t, "label": model.label(t) + versus, "seconds": {}}
            for name, t in targets.items()
        },
    )
    for method in methods:
        method.check_options(options[method.name])  # once: each explain below skips it
        evidence = []
        for name, image in named_images:
            start = time.perf_counter()
            try:
                result = explain(
                    model,
                    image[None],
                    targets[name],
                    method,
                    layer=layer,
                    batch_size=batch_size,
                    contrast=rather,
                    score=score,
                    **options[method.name],
                )
            except UserError as exc:
                warnings.warn(f"{method.name} left blank: {exc}", stacklevel=2)
                evidence = None
                break
            record[name]["seconds"][method.name] = round(time.perf_counter() - start, 2)
            evidence.append(postprocess.evidence(result.raw, method.display, model.input_size)[0])
        if evidence is None:
            columns.append([np.full_like(image, 255) for _, image in named_images])
            continue
        shared = postprocess.normalize_jointly(evidence)
        columns.append(
            [method_panel(image, m, method.display) for (_, image), m in zip(named_images, shared)]
        )
    for name, _ in named_images:
        timing = ", ".join(f"{k} {v}" for k, v in record[name]["seconds"].items())
        log(f"{name}: {record[name]['label']} ({record[name]['target']}); seconds {timing}")
    rows = [
        (f"{name}\n{record[name]['label']}", image, [column[i] for column in columns])
        for i, (name, image) in enumerate(named_images)
    ]
    return rows, record


def comparison_figure(rows, titles):
    """``rows``: per image (row label, input uint8, [panel uint8 per method]); ``titles``: per method."""
    figure, axes = new_figure(len(rows), len(titles) + 1, 2.4, 2.6)
    for r, (label, image, panels) in enumerate(rows):
        for c, picture in enumerate([image] + list(panels)):
            ax = axes[r, c]
            ax.imshow(picture)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title("input" if c == 0 else titles[c - 1], fontsize=9)
        axes[r, 0].set_ylabel(label, fontsize=8)
    figure.tight_layout()
    return figure
