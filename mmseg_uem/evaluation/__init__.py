from . import functional, io, metrics  # noqa: F401
