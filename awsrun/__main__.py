"""``python -m awsrun``."""

from awsrun.cli import run

run()
