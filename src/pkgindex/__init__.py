"""pkgindex: an async index of software packages with a Django Packages API v4."""

__version__ = "0.1.0"
