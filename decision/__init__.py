"""The decision service: routing rules for Genesys Cloud callbacks, served over gRPC."""

import plumbing.grpc_verbosity  # noqa: F401  (before anything imports grpc)
