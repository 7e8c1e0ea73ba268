"""Our routing: deployment choice, retries, fallbacks, circuit breakers."""
