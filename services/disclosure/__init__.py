"""Disclosure service (一公开)."""
