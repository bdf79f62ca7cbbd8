"""Loaders: each turns one kind of model source into a ``gradcam.graph.ClassifierGraph``.

- ``slim``: a TF-Slim network record (``nets.nets_factory.NetworkSpec``) and a checkpoint.
- ``graph_file``: a frozen GraphDef (.pb) or a SavedModel directory, explained through named tensors.
"""
