"""A test-only app whose routes block a worker thread, for the load and limit tests."""
