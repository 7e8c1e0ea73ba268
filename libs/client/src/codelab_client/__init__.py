"""codelab_client."""
