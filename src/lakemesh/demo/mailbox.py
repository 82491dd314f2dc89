"""The demo's own mail server: a real SMTP server (aiosmtpd) on a free loopback port, so
that the approval mail of story step 4 is really sent, received and its link followed.

aiosmtpd comes with the ``demo`` extra; it is imported only when the demo runs.
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from email.message import EmailMessage
from types import TracebackType
from typing import Any

from lakemesh.errors import MissingExtra


class Mailbox:
    """Receives every message sent to it while it runs (``with Mailbox() as box``)."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        with socket.socket() as probe:
            probe.bind((self.host, 0))
            self.port: int = probe.getsockname()[1]
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._changed = threading.Condition()
        self._controller: Any = None

    def __enter__(self) -> Mailbox:
        try:
            from aiosmtpd.controller import Controller
        except ImportError as exc:
            raise MissingExtra("aiosmtpd", "demo") from exc
        box = self

        class Collect:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                with box._changed:
                    box.messages.append((list(envelope.rcpt_tos), message))
                    box._changed.notify_all()
                return "250 OK"

        self._controller = Controller(Collect(), hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._controller is not None:
            self._controller.stop()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[tuple[list[str], EmailMessage]]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"expected {n} mail(s), got {len(self.messages)}")
                self._changed.wait(left)
            return list(self.messages)
