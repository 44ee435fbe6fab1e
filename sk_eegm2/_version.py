"""The package's version: one source, read by ``__init__``, persistence and the build."""

__version__ = "0.1.0.dev0"
