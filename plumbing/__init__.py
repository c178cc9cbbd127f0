"""Process plumbing both services share: layered settings, JSON logs, signals and graceful exit,
ids. Nothing here knows about routing or webhooks."""
