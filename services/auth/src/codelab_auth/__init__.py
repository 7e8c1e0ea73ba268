"""codelab_auth."""
