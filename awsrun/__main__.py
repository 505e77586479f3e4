"""``python -m awsrun``."""

import sys

from awsrun.cli import main

sys.exit(main())
