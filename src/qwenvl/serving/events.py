"""What the engine tells a request, and the handle through which the request hears it.

The engine thread calls `Handle.emit`; the deliver function decides where events go (an asyncio
queue for the HTTP layer, a plain queue in tests). `cancel` is read by the engine between steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Delta:
    choice: int
    text: str  # UTF-8-safe, stop strings never shown


@dataclass(frozen=True)
class Done:
    choice: int
    reason: str  # "stop" or "length"
    token_ids: list[int] = field(default_factory=list)  # every token generated, a stop token included


@dataclass(frozen=True)
class Failed:
    message: str


Event = Delta | Done | Failed


class Handle:
    def __init__(self, deliver: Callable[[Event], None]):
        self._deliver = deliver
        self.cancelled = False

    def emit(self, event: Event) -> None:
        self._deliver(event)

    def cancel(self) -> None:
        """Stop generating for this request (its client has gone); no more events are needed."""
        self.cancelled = True
