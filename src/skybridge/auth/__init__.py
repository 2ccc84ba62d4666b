"""API tokens for the HTTP service and the dashboard (stored hashed in the ``sql`` backend)."""

from skybridge.auth.tokens import (
    TOKEN_PREFIX,
    Principal,
    TokenInfo,
    TokenStore,
    hash_token,
    new_token,
)

__all__ = ["TOKEN_PREFIX", "Principal", "TokenInfo", "TokenStore", "hash_token", "new_token"]
