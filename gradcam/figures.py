"""Multi-method figures: one row per image, the input then one panel per explanation method."""
import numpy as np

from gradcam.visualize import overlay


def method_panel(image, explanation_map, kind, alpha=0.5):
    """CAM-kind maps as a heatmap over the image; pixel attributions as a grayscale image."""
    if kind == "cam":
        return overlay(image, explanation_map, "heatmap", alpha)
    grey = np.clip(np.asarray(explanation_map) * 255.0, 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def comparison_figure(rows, titles):
    """``rows``: per image (row label, input uint8, [panel uint8 per method]); ``titles``: per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = len(titles) + 1
    figure, axes = plt.subplots(len(rows), columns, figsize=(2.4 * columns, 2.6 * len(rows)),
                                squeeze=False)
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
