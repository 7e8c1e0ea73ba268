"""codelab_llm_proxy."""
