"""authlib's OAuth 2.0 authorization server wired to our storage and tokens."""
