"""codelab_testing."""
