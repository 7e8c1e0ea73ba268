"""Local mesh launcher: renders nginx config, starts the services, waits until ready."""
