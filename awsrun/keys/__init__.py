"""awsrun-keys: long-lived AWS keys in the OS keyring, imported from plaintext and rotated."""
