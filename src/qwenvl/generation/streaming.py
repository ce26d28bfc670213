"""Token ids → text deltas that never split a UTF-8 character and never show a stop string."""

from __future__ import annotations

import codecs


class TextStream:
    def __init__(self, tokenizer, stop_strings: tuple[str, ...] = ()):
        self.tokenizer = tokenizer
        self.stop_strings = tuple(s for s in stop_strings if s)
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.text = ""
        self._shown = 0
        self.stopped = False

    def push(self, token_id: int) -> str:
        """Add one generated token; return the text that is now safe to show."""
        if self.stopped:
            return ""
        self.text += self._utf8.decode(self.tokenizer.token_bytes(token_id))
        return self._release(final=False)

    def finish(self) -> str:
        """The text still held back, once generation has ended."""
        if not self.stopped:
            self.text += self._utf8.decode(b"", final=True)
        return self._release(final=True)

    def _release(self, final: bool) -> str:
        cut = min((i for i in (self.text.find(s) for s in self.stop_strings) if i >= 0), default=-1)
        if cut >= 0:
            self.text, self.stopped = self.text[:cut], True
        end = len(self.text) if final or self.stopped else len(self.text) - self._held_back()
        delta, self._shown = self.text[self._shown:end], max(self._shown, end)
        return delta

    def _held_back(self) -> int:
        """Length of the longest tail that could still grow into a stop string."""
        tail = 0
        for s in self.stop_strings:
            for n in range(min(len(s) - 1, len(self.text)), 0, -1):
                if self.text.endswith(s[:n]):
                    tail = max(tail, n)
                    break
        return tail
