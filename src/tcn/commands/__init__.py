"""One module per ``tcn`` verb: ``HELP``, ``add_arguments(parser)``, ``run(args) -> int``."""
