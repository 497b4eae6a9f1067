"""The machinery behind the ``tracelog`` command; :mod:`tracelog.cli` is its entry point."""
