"""Rules tooling around the engine, for the CLI, the service and the console: the live rules file
and its install, test cases and coverage, replay of logged decisions, rendering for terminals."""
