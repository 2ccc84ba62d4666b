"""Core services every other layer builds on: errors, config, registry, logging, metrics, retry."""
