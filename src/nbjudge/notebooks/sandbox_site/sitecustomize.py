"""Loaded by the sandboxed notebook kernel: refuse network connections off loopback.

The kernel talks to its client over loopback, which stays allowed. Anything
else (a dataset URL, a model hub, pip reaching an index) fails at once with
a message that says why, instead of hanging until a timeout.
"""

import ipaddress
import os
import socket

if os.environ.get("NBJUDGE_SANDBOX") == "1":
    _connect = socket.socket.connect
    _connect_ex = socket.socket.connect_ex

    def _allowed(address) -> bool:
        if not isinstance(address, tuple):
            return True  # unix sockets
        host = address[0]
        if host in ("localhost", ""):
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    def _guard(address) -> None:
        if not _allowed(address):
            raise ConnectionRefusedError(
                f"network access is disabled in the nbjudge sandbox (tried {address[0]})"
            )

    def connect(self, address):
        _guard(address)
        return _connect(self, address)

    def connect_ex(self, address):
        _guard(address)
        return _connect_ex(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]

    _getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host not in (None, "localhost") and not _is_ip(host):
            raise socket.gaierror(f"name resolution is disabled in the nbjudge sandbox ({host})")
        return _getaddrinfo(host, *args, **kwargs)

    def _is_ip(host) -> bool:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            return False
        return True

    socket.getaddrinfo = getaddrinfo
