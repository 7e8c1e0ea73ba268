"""codelab_gateway."""
