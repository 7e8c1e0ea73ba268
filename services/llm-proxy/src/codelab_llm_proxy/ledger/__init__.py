"""The usage ledger: one row per model call, in the proxy's own database."""
