"""codelab_common."""
