"""Loaders: each turns one kind of model source into a ``gradcam.graph.ClassifierGraph``.

- ``slim``: a TF-Slim network record (``nets.nets_factory.NetworkSpec``) and a checkpoint.
- ``model_file``: a Keras .h5/.keras file, a SavedModel directory, a frozen GraphDef .pb, or a live
  Keras model, from the pieces below:
  - ``sources``: reads each kind into a GraphDef (``Source``);
  - ``keras_config``: the safety check of a Keras file, before anything of it loads;
  - ``keras_trace``: loads Keras models and TF2 SavedModels and traces them into frozen graphs;
  - ``graph_file``: reads GraphDefs and SavedModel protos, checks user-given tensor names;
  - ``analysis``: finds input, logits, layers, attention and the default layer (``Found``);
  - ``tokens``: a transformer's token layers as maps of their patch grid.
"""
