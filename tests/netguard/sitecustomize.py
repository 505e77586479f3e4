"""Loaded by every Python process the tests start (PYTHONPATH): no request may leave 127.0.0.1.

A name lookup or a connection to anything but loopback is written to $NETGUARD_LOG and
refused; the test that caused it then fails (tests/conftest.py reads the log).
"""

from awsguard_net import install

install()
