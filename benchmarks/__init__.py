"""Speed and memory benchmarks of gradcam (run: ``python benchmarks/run.py`` or ``gradcam bench``)."""
