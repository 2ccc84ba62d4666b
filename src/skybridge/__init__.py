"""skybridge."""
