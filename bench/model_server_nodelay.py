"""devtools.model_server with Nagle's algorithm off on its sockets (for the benchmarks).

The server writes the response headers and the body in two sends on a
keep-alive connection; with Nagle on, the second send waits for the client's
delayed ACK, adding ~40 ms to every call. That artefact would dominate a
per-comment loop and say nothing about SageMaker, so the benchmarks start the
server through this wrapper. (The one-line fix belongs in devtools/model_server.py.)
"""

from __future__ import annotations

from devtools import model_server

model_server._Handler.disable_nagle_algorithm = True  # socketserver sets TCP_NODELAY per connection

if __name__ == "__main__":
    raise SystemExit(model_server.main())
