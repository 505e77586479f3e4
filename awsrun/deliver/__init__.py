"""Delivery modes of one role session: exec, --refresh (with its credential endpoint), export
and credential_process output; the command's environment and neutral config, built in one place;
the one way to start a child while awsrun holds secrets."""
