"""Imported first by both services' packages, before anything imports grpc: gRPC's C core
writes its own lines to stderr from its own threads, outside `logging` (at its default
verbosity, one per failed TLS handshake: 3,400 a second from one key-less client), so a stderr
nobody reads blocked those threads and with them every decision. Errors only, unless the
operator sets GRPC_VERBOSITY."""

import os

os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
