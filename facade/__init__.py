"""The public facade: answers TrueEngage's custom callback webhook over HTTP."""
