"""python -m awsrun.keys: the awsrun-keys command."""

from awsrun.keys.cli import run

run()
