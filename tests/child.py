"""A child for awsrun to exec: prints its PID, argv and environment as JSON, exits with argv[1]."""

import json
import os
import sys

print(json.dumps({"pid": os.getpid(), "argv": sys.argv[1:], "env": dict(os.environ)}), flush=True)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
