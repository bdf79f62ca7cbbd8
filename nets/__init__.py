"""TF-Slim network definitions and the registry that maps a name to one record (nets_factory)."""
