"""Encryption: the keyring, the payload codec for Temporal, and sealed database columns and files."""
