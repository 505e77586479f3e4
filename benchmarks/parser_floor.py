"""The floor under awsrun's fast paths: docopt-ng alone, parsing awsrun's usage as awsrun does.

Imports docopt and parses awsrun's own usage text (read from awsrun/cli.py, without
importing awsrun) with the arguments given, options first, the cyclic GC off and an exit
without interpreter teardown, as awsrun's console entry point has them. A cache hit, --help or a local error cannot cost
less than this; what they cost beyond it is awsrun's own work.

Usage: python parser_floor.py [ARG...]
"""

import gc
import os
import sys

gc.disable()

import docopt  # noqa: E402  (after gc.disable, as in awsrun's entry point)

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "awsrun", "cli.py"), encoding="utf-8") as stream:
    USAGE = stream.read().split('"""', 2)[1]

try:
    docopt.docopt(USAGE, sys.argv[1:], default_help=False, options_first=True)
except SystemExit:  # docopt's usage error: still the parser's whole cost
    pass
os._exit(0)
