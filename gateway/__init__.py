"""Spotcheck API gateway: identity (users, machine clients, tokens, JWKS), routing proxy to the
services, merged OpenAPI."""
