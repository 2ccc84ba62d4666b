"""skybridge: production data and AI workloads across AWS and Oracle Cloud."""

__version__ = "0.1.0"
