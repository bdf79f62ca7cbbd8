"""Quantitative evaluation of explanations, reusable on any ``gradcam.model.Model``.

- ``perturbation``: deletion and insertion curves and their AUC (Petsiuk et al. 2018, RISE).
- ``confidence``: average drop and increase in confidence (Chattopadhay et al. 2018, Grad-CAM++).
- ``pointing``: pointing game (Zhang et al. 2016/2018) and energy inside the object.
- ``randomization``: cascading weight randomisation (Adebayo et al. 2018, "Sanity Checks for
  Saliency Maps") with exact restore.
- ``similarity``: rank correlation, Pearson correlation and SSIM between two maps.
- ``collage``: multi-object test images made of real photos, with the tile of each object.
- ``boxes``: Pascal VOC / ILSVRC box files (one XML per image, original pixels).
- ``localization``: weakly-supervised localisation and pointing game of the CAM / Grad-CAM
  papers (boxes from maps, IoU, the four figures); ``box_evaluation`` runs it with a model.
- ``protocols``: the deletion / insertion protocols (default, RISE) and the localisation one,
  as data that results record; ``provenance``: package versions and checkpoint SHA-256.
"""
