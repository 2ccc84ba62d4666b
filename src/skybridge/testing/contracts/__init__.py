"""Contract test suites: one abstract test class per backend family."""
