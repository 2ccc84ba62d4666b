"""The features app: streaming enrichment into an online feature store, an offline log with
point-in-time training sets, and predictions from a model endpoint (see docs/features.md)."""
