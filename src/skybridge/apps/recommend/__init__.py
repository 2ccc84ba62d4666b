"""The recommend app: real-time recommendations with streaming user updates (see manifest)."""
