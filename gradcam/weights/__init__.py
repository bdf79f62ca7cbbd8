"""Converting published weights into TF checkpoints for the embedded networks."""
