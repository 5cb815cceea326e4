"""The client: read a client config, seal a call, send it, open the answer for this request only."""
from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import threading
import time
import urllib.parse
import uuid
import warnings
from email.message import Message as Headers
from typing import Any, Dict, Mapping, Optional, Tuple

from . import envelope
from .errors import AuthError, ConfigError, FunctionError, NetworkError, ProtocolError, PsimbolsError, RateLimited, Timeout, UntrustedServer

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
# What the server sends unauthenticated is shown with its control characters escaped.
_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]')
# The largest integer JSON carries exactly to the server (2^53 - 1); past it, a string of digits.
_SAFE_INT = 2 ** 53 - 1

_CLIENT_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,63}$')


def _key_of(spec: Any, file: str) -> Tuple[str, bytes]:
    if not isinstance(spec, dict) or spec.get('type') != 'AES' or not isinstance(spec.get('data'), str):
        raise ConfigError('config_invalid', f'{file}: key: must be an AES key object')
    if spec.get('mode') == 'GCM':
        decoded = envelope.b64url_strict(spec['data']) if spec.get('encoding') == 'base64url' else None
        if decoded is None or len(decoded) != 32:
            raise ConfigError('config_invalid', f'{file}: key.data: must be 32 bytes in canonical base64url')
        return 'ps2', decoded
    if spec.get('mode') == 'CBC':
        data: bytes = spec['data'].encode('utf-8')
        if len(data) not in (16, 24, 32):
            raise ConfigError('config_invalid', f'{file}: key.data: must be 16, 24 or 32 bytes of UTF-8')
        return 'legacy', data
    raise ConfigError('config_invalid', f'{file}: key.mode: must be "GCM" (ps2) or "CBC" (legacy)')


class Client:
    """A psimbols client for one client config: `Client.from_config(path).call('supermath', 'factorial', n=3)`."""

    def __init__(self, client: str, server: str, key_spec: Mapping[str, Any], timeout: float = 10.0, endpoint: Optional[str] = None, source: str = 'client config', max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES, retries: int = 0, cafile: Optional[str] = None) -> None:
        if not isinstance(client, str) or not _CLIENT_ID.match(client):
            raise ConfigError('config_invalid', f'{source}: client: must be a client id')
        if not isinstance(server, str) or not re.match(r'^https?://', server):
            raise ConfigError('config_invalid', f'{source}: server: must be an http:// or https:// URL')
        self.client, self.server = client, server
        self.mode, self._key = _key_of(key_spec, source)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.retries = retries
        self.endpoint = endpoint or server
        self._tls = _tls_context(cafile) if cafile is not None or self.endpoint.startswith('https:') else None
        if self.mode == 'legacy':
            warnings.warn(f'client "{client}" uses AES-CBC without authentication: its traffic can be altered; prefer a ps2 key', stacklevel=2)

    @classmethod
    def from_config(cls, path: str, **options: Any) -> Client:
        """Reads a client config file as psimbols writes it (the seed's format, "comment" allowed)."""
        try:
            with open(path, encoding='utf-8') as f:
                value = json.load(f)
        except FileNotFoundError:
            raise ConfigError('config_missing', f'{path}: no such file') from None
        except ValueError as e:
            raise ConfigError('config_invalid', f'{path}: not valid JSON ({e})') from None
        if not isinstance(value, dict):
            raise ConfigError('config_invalid', f'{path}: must be a JSON object')
        unknown = set(value) - {'client', 'server', 'key', 'comment'}
        if unknown:
            raise ConfigError('config_invalid', f'{path}: {sorted(unknown)[0]}: is not a known field')
        fields: Any = value  # each field is checked by the constructor
        return cls(fields.get('client'), fields.get('server'), fields.get('key'), source=path, **options)

    def call(self, module: str, function: str, /, **params: Any) -> Any:
        """Calls a function and returns its value; a function's error raises FunctionError."""
        response = self.request(module, function, params)
        if 'error' in response:
            raise FunctionError(response['error']['code'], response['error']['message'])
        return response['return']['value']

    def request(self, module: str, function: str, params: Optional[Mapping[str, Any]] = None) -> Dict[str, Any]:
        """Sends one call, each attempt sealed afresh, and returns the whole opened response.

        After a network failure, a timeout or a 503 it tries `retries` more times, waiting what the
        server's Retry-After says (never longer than the timeout), else 0.2 s doubling. A clock
        answer corrects this process's clock offset, once a call, without counting as a retry.
        """
        if not _NAME.match(module) or not _NAME.match(function):
            raise ConfigError('usage', 'module and function names are letters, digits and "_"')
        attempt, corrected, exact = 1, False, _exact(params or {})
        while True:
            try:
                return self._attempt(module, function, exact)
            except AuthError as e:
                if corrected or e.server_time is None:
                    raise
                _correct_clock(e)
                corrected = True
            except NetworkError as e:
                if attempt > self.retries:
                    raise
                time.sleep(_retry_delay(e, attempt, self.timeout))
                attempt += 1

    def _attempt(self, module: str, function: str, params: Any) -> Dict[str, Any]:
        request_id = str(uuid.uuid4())
        message = {'request_id': request_id, 'run': {'module': module, 'function': function, 'params': params}}
        if self.mode == 'ps2':
            now = int(time.time()) + _clock['offset']
            token = envelope.seal(envelope.REQUEST, self._key, self.client, self.server, message, ts=now)
        else:
            token = envelope.seal_legacy(self._key, message)
        status, headers, body = self._post({'client': self.client, 'server': self.server, 'request': token})
        return self._answer(status, headers, body, token, request_id)

    def _post(self, outer: Dict[str, Any]) -> Tuple[int, Headers, str]:
        """One attempt: `timeout` bounds all of it, connect to last byte; at most `max_response_bytes` are read."""
        url = urllib.parse.urlsplit(self.endpoint)
        conn: http.client.HTTPConnection
        if url.scheme == 'https':
            conn = http.client.HTTPSConnection(url.hostname or '', url.port, timeout=self.timeout or None, context=self._tls)
        else:
            conn = http.client.HTTPConnection(url.hostname or '', url.port, timeout=self.timeout or None)
        expired = threading.Event()

        def expire() -> None:
            expired.set()
            if conn.sock is not None:
                try:
                    conn.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        timer = threading.Timer(self.timeout, expire) if self.timeout else None
        try:
            if timer is not None:
                timer.daemon = True
                timer.start()
            path = (url.path or '/') + (f'?{url.query}' if url.query else '')
            conn.request('POST', path, body=json.dumps(outer).encode('utf-8'), headers={'Content-Type': 'application/json'})
            res = conn.getresponse()
            body = self._read(res)
            if expired.is_set():  # the shutdown at the deadline ends a read as if the body were whole
                raise TimeoutError()
            return res.status, res.headers, body.decode('utf-8', 'replace')
        except PsimbolsError:
            raise
        except Exception as e:
            raise self._failure(e, expired.is_set()) from e
        finally:
            if timer is not None:
                timer.cancel()
            conn.close()

    def _read(self, res: http.client.HTTPResponse) -> bytes:
        length = res.getheader('Content-Length')
        if length is not None and length.isdigit() and int(length) > self.max_response_bytes:
            raise self._too_large()
        body = bytearray()
        while True:
            chunk = res.read(65536)
            if not chunk:
                # read(amt) ends quietly where the connection closed; a body shorter than it said is not whole.
                if length is not None and length.isdigit() and len(body) < int(length):
                    raise http.client.IncompleteRead(bytes(body), int(length) - len(body))
                return bytes(body)
            body += chunk
            if len(body) > self.max_response_bytes:
                raise self._too_large()

    def _too_large(self) -> ProtocolError:
        return ProtocolError('bad_response', f'the response is larger than {self.max_response_bytes} bytes, so it was not read; max_response_bytes= raises the cap')

    def _failure(self, e: Exception, expired: bool) -> PsimbolsError:
        """Every way an attempt can fail, as one of this package's errors."""
        if expired or isinstance(e, (socket.timeout, TimeoutError)):
            return Timeout('request_timeout', f'no answer from {self.endpoint} within {self.timeout} s')
        if isinstance(e, http.client.RemoteDisconnected):
            return NetworkError('network', f'cannot reach {self.endpoint}: it closed the connection without an answer')
        if isinstance(e, http.client.IncompleteRead):
            return NetworkError('network', f'cannot reach {self.endpoint}: it closed the connection in the middle of the answer')
        if isinstance(e, ssl.SSLCertVerificationError):
            return UntrustedServer('untrusted_server', f'{self.endpoint}: its certificate does not verify ({_printable(e.verify_message or str(e))}); trust the CA that signed it with cafile=')
        if isinstance(e, ssl.SSLError):
            return ProtocolError('bad_response', f'{self.endpoint} does not answer in TLS ({_printable(str(e))}): if it serves plain HTTP, use an http:// URL')
        if isinstance(e, http.client.HTTPException):
            return ProtocolError('bad_response', f'{self.endpoint} answered with something that is not HTTP ({type(e).__name__})')
        if isinstance(e, OSError):
            return NetworkError('network', f'cannot reach {self.endpoint}: {_printable(str(e))}')
        return ProtocolError('bad_response', f'{self.endpoint}: {type(e).__name__}')

    def _open(self, body: str, token: str, request_id: str, status: int) -> Dict[str, Any]:
        try:
            outer = json.loads(body)
        except ValueError:
            outer = None
        if not isinstance(outer, dict) or outer.get('client') != self.client or not isinstance(outer.get('response'), str):
            raise ProtocolError('bad_response', f'the server answered {status} without a psimbols response')
        try:
            if self.mode == 'ps2':
                message = envelope.open_response(outer['response'], self._key, self.client, self.server, token)
            else:
                message = envelope.open_legacy(outer['response'], self._key)
        except envelope.Refused as e:
            raise ProtocolError('bad_response', f'the response does not open with our key for this request ({e.reason})') from None
        if message['request_id'] != request_id:
            raise ProtocolError('bad_response', 'the response carries another request id')
        return message

    def _clock_of(self, body: str, token: str, request_id: str) -> Optional[int]:
        """The server's time from a clock answer to this very request, when the 401 carries one that opens."""
        try:
            outer = json.loads(body)
        except ValueError:
            return None
        if self.mode != 'ps2' or not isinstance(outer, dict) or outer.get('client') != self.client or not isinstance(outer.get('clock'), str):
            return None
        try:
            answered, now = envelope.open_clock(outer['clock'], self._key, self.client, self.server, token)
        except envelope.Refused:
            return None
        return now if answered == request_id else None

    def _answer(self, status: int, headers: Optional[Headers], body: str, token: str, request_id: str) -> Dict[str, Any]:
        retry_after = _seconds(headers.get('Retry-After') if headers else None)
        if status == 200:
            return self._open(body, token, request_id, status)
        if status == 401:
            server_time = self._clock_of(body, token, request_id)
            if server_time is not None:
                raise AuthError('unauthorized', f"{self.endpoint} refused the request (401): it is stamped outside the server's window", server_time)
            raise AuthError('unauthorized', f'{self.endpoint} refused the request (401): check the client id, the key and the clock')
        if status == 429:
            message = f'too many requests: retry in {retry_after} s'
            try:
                opened = self._open(body, token, request_id, status)
                message = opened.get('error', {}).get('message', message)
            except ProtocolError:
                pass
            raise RateLimited(message, retry_after)
        if status == 503:
            raise NetworkError('unavailable', f'{self.endpoint} is unavailable (503): retry in {retry_after} s', retry_after)
        if status in _REDIRECTS:
            where = _printable((headers.get('Location') if headers else None) or 'elsewhere', 200)
            raise ProtocolError('http_error', f'{self.endpoint} redirects to {where} ({status}); psimbols does not follow redirects, since a request is bound to one server: give the client config that URL')
        detail = _server_message(body)
        raise ProtocolError('http_error', f'{self.endpoint} answered {status}' + (f': {detail}' if detail else ''))


# Server minus local clock, in seconds, from a clock answer; kept for the process. A correction
# beyond a day is refused: that clock needs fixing, and the bound limits how far even a server
# holding the key can move this process's stamps.
_clock = {'offset': 0}
MAX_CLOCK_OFFSET = 86400


def _tls_context(cafile: Optional[str]) -> ssl.SSLContext:
    """The system's CAs, or `cafile`'s alone (as curl's --cacert); hostnames checked."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError('usage', f'cafile={cafile!r}: {_printable(str(e))}') from None


def _correct_clock(error: AuthError) -> None:
    offset = (error.server_time or 0) - int(time.time())
    if abs(offset) > MAX_CLOCK_OFFSET:
        raise AuthError('unauthorized', f"{error}; this machine's clock is {abs(offset)} s {'behind' if offset > 0 else 'ahead of'} it, more than a day, which psimbols does not correct: set the clock right") from error
    if offset != _clock['offset']:
        warnings.warn(f"this machine's clock is {abs(offset)} s {'behind' if offset > 0 else 'ahead of'} the server's; sealing with the server's time for the rest of this process", stacklevel=4)
    _clock['offset'] = offset


def _retry_delay(error: NetworkError, attempt: int, timeout: Optional[float]) -> float:
    backoff: float = min(0.2 * 2.0 ** (attempt - 1), 5.0)
    asked = error.retry_after
    if asked is None:
        return backoff
    return float(asked) if not timeout else float(min(asked, timeout))


def _exact(value: Any) -> Any:
    """Integers past 2^53 as strings of digits, as the CLI sends them: JSON numbers that large lose digits."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > _SAFE_INT:
        return str(value)
    if isinstance(value, dict):
        return {k: _exact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_exact(v) for v in value]
    return value


def _printable(text: str, limit: int = 500) -> str:
    cut = text if len(text) <= limit else text[:limit] + '…'
    return _CONTROL.sub(lambda m: f'\\x{ord(m.group()):02x}' if ord(m.group()) < 0x100 else f'\\u{ord(m.group()):04x}', cut)


def _server_message(body: str) -> Optional[str]:
    """The message of a plain JSON error body, escaped: it is not authenticated."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    message = value.get('message') if isinstance(value, dict) else None
    return _printable(message) if isinstance(message, str) else None


def _seconds(value: Optional[str]) -> Optional[int]:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
