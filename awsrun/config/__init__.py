"""Settings and what they are made of, read without botocore: precedence, validation, role
parsing, .env files and their trust, the AWS config files, profiles, session names, typos,
shell completion. The fast paths live here, so nothing in this package imports botocore."""
