"""Adapters to the outside: litellm (model providers)."""
