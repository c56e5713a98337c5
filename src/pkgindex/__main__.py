"""``python -m pkgindex`` is the ``pkgindex`` command."""

from pkgindex.cli import app

app(prog_name="pkgindex")
