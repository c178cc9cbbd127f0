"""The contract both processes share and neither owns: the generated `decision.v1` stubs, the
Genesys callback contract (webhook fields, answer fields), the webhook reader and the clients of
the decision service. It imports nothing of `decision/` or `facade/`."""
