"""API errors in the OpenAI shape: `{"error": {"message", "type", "param", "code"}}` with an HTTP status."""

from __future__ import annotations


class APIError(Exception):
    """A request the server refuses; the message names the problem and `param` where it is."""

    def __init__(self, status: int, message: str, code: str, param: str | None = None,
                 kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.kind = kind

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}}


def bad_request(message: str, param: str | None = None, code: str = "invalid_request") -> APIError:
    return APIError(400, message, code, param)
