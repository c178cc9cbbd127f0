"""The customer's Genesys Cloud org: its region's hosts, an API client (OAuth client credentials,
paging, rate limits), the org snapshot (pulled, written, read back) and the names it gives the
rules. Nothing here is ever on a decision's path: the service reads a snapshot."""
