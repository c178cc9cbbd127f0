"""The gRPC decision service at run time: server, servicer, settings, health, background
components, the recent-decisions window and metrics."""
