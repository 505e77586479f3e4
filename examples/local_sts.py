"""Start moto's STS on 127.0.0.1 (a free port), print its URL, serve until stopped.

Used by demo.sh: a local STS so awsrun can be tried without an AWS account.
"""

import signal
import sys

from moto.server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
try:
    signal.pause()
finally:
    server.stop()
