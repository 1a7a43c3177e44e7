"""moto's server, answering one request at a time.

moto_server runs werkzeug threaded, and moto's models check and then act without a lock: two
PutSecretValue calls with one ClientRequestToken can both pass the "does this version exist"
check and both succeed, which AWS never allows (the second gets ResourceExistsException). The
aws flavor's compare-and-set rests on that rule, so under load the conformance suite saw moto,
not keystack, lose a concurrent patch, and moto's HTML error pages (a model changed during a
listing). One request at a time gives each API call the atomicity AWS gives it; concurrent
callers still interleave between calls, which is what the concurrency tests exercise.

usage: python moto-serial.py HOST PORT
"""

import sys

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import run_simple

if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    run_simple(
        host,
        port,
        DomainDispatcherApplication(create_backend_app),
        threaded=False,
        request_handler=MotoRequestHandler,
    )
