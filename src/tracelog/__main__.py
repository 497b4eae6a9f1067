"""``python -m tracelog``: the same as the ``tracelog`` command."""

from __future__ import annotations

from tracelog.cli import main

raise SystemExit(main())
