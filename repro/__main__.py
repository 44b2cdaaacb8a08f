"""``python -m repro``."""

from repro.cli import run

run()
