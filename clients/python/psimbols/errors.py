"""Exceptions that mirror the psimbols CLI's exit-code classes (README, "Exit codes")."""
from __future__ import annotations

from typing import Optional


class PsimbolsError(Exception):
    """Every error this client raises on purpose. `code` is the CLI's error code."""

    exit_code = 6

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class FunctionError(PsimbolsError):
    """The function returned an error (exit 1); `code` is the function's own (invalid_params, …)."""

    exit_code = 1


class ConfigError(PsimbolsError):
    """A client config that is missing or invalid (exit 2)."""

    exit_code = 2


class NetworkError(PsimbolsError):
    """No answer, or a server that cannot decide now (503) (exit 3); worth retrying later."""

    exit_code = 3

    def __init__(self, code: str, message: str, retry_after: Optional[int] = None) -> None:
        super().__init__(code, message)
        self.retry_after = retry_after


class Timeout(NetworkError):
    """No answer within the timeout (exit 3)."""


class AuthError(PsimbolsError):
    """The server refused the request (401): the client id, the key, or the clock (exit 4).
    `server_time` is the server's clock (Unix seconds) when it answered with a sealed clock answer."""

    exit_code = 4

    def __init__(self, code: str, message: str, server_time: Optional[int] = None) -> None:
        super().__init__(code, message)
        self.server_time = server_time


class RateLimited(PsimbolsError):
    """Over the client's hourly limit (exit 5); `retry_after` in seconds."""

    exit_code = 5

    def __init__(self, message: str, retry_after: Optional[int] = None) -> None:
        super().__init__('rate_limited', message)
        self.retry_after = retry_after


class ProtocolError(PsimbolsError):
    """Any other server or protocol failure (exit 6): a response that does not open for our request, another status."""


class UntrustedServer(ProtocolError):
    """An https server whose certificate does not verify (exit 6): retrying cannot help."""
