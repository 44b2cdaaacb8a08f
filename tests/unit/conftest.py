"""Unit tests are offline: any attempt to open a network socket fails the test."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any, NoReturn

import pytest


class NetworkAccessError(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*args: Any, **kwargs: Any) -> NoReturn:
        raise NetworkAccessError("unit tests must not open sockets")

    real_socket = socket.socket

    class GuardedSocket(real_socket):
        def connect(self, *args: Any, **kwargs: Any) -> None:
            if self.family in (socket.AF_INET, socket.AF_INET6):
                refuse()
            super().connect(*args, **kwargs)

    monkeypatch.setattr(socket, "socket", GuardedSocket)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield
