"""The decision service: routing rules for Genesys Cloud callbacks, served over gRPC."""
