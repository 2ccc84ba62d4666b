"""Test support shipped with skybridge: contract suites, the OCI emulator, real-server fixtures."""
