"""Unit tests are offline: any attempt to open a network socket fails the test."""

from __future__ import annotations

import socket
from typing import Any, NoReturn

import pytest


class NetworkAccessError(AssertionError):
    pass


def _refuse(*args: Any, **kwargs: Any) -> NoReturn:
    raise NetworkAccessError("unit tests must not open sockets")


class _GuardedSocket(socket.socket):
    def connect(self, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            _refuse()
        super().connect(address)


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "socket", _GuardedSocket)
    monkeypatch.setattr(socket, "create_connection", _refuse)
    monkeypatch.setattr(socket, "getaddrinfo", _refuse)
