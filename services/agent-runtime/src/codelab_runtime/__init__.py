"""codelab_runtime."""
