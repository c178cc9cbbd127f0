"""Generated protobuf and gRPC modules of decision.v1 (built by `make protos`, not committed)."""
