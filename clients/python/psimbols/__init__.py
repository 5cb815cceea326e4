"""A Python client for psimbols (ps2, and the seed's legacy format)."""
from .client import Client
from .errors import AuthError, ConfigError, FunctionError, NetworkError, ProtocolError, PsimbolsError, RateLimited, Timeout

__all__ = ['Client', 'PsimbolsError', 'FunctionError', 'ConfigError', 'NetworkError', 'Timeout', 'AuthError', 'RateLimited', 'ProtocolError']
