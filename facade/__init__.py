"""The public facade: answers TrueEngage's custom callback webhook over HTTP."""

import plumbing.grpc_verbosity  # noqa: F401  (before anything imports grpc)
