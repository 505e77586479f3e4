"""Refuse and record every name lookup and connection that would leave the loopback interface."""

from __future__ import annotations

import errno
import ipaddress
import os
import socket

__all__ = ["install", "is_loopback"]

_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host.lower().rstrip(".") in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _record(what: str) -> None:
    path = os.environ.get("NETGUARD_LOG")
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as log:
            log.write(f"pid {os.getpid()}: {what}\n")
    except OSError:
        pass


def install() -> None:
    if getattr(socket, "_netguard_installed", False):
        return
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host is not None and not is_loopback(host):
            _record(f"name lookup of {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"netguard: {host!r} is not loopback")
        return real_getaddrinfo(host, *args, **kwargs)

    def _check(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            if not is_loopback(address[0]):
                _record(f"connection to {address!r}")
                raise OSError(errno.ENETUNREACH, f"netguard: {address[0]!r} is not loopback")

    def connect(self, address):  # type: ignore[no-untyped-def]
        _check(self, address)
        return real_connect(self, address)

    def connect_ex(self, address):  # type: ignore[no-untyped-def]
        _check(self, address)
        return real_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket._netguard_installed = True  # type: ignore[attr-defined]
