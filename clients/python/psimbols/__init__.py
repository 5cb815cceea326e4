"""A Python client for psimbols (ps2, and the seed's legacy format)."""
__version__ = '0.1.0'

from .client import Client
from .errors import AuthError, ConfigError, FunctionError, NetworkError, ProtocolError, PsimbolsError, RateLimited, Timeout, UntrustedServer

__all__ = ['__version__', 'Client', 'PsimbolsError', 'FunctionError', 'ConfigError', 'NetworkError', 'Timeout', 'AuthError', 'RateLimited', 'ProtocolError', 'UntrustedServer']
