"""The client: read a client config, seal a call, send it, open the answer for this request only."""
import http.client
import json
import re
import socket
import threading
import urllib.parse
import uuid
import warnings

from . import envelope
from .errors import AuthError, ConfigError, FunctionError, NetworkError, ProtocolError, PsimbolsError, RateLimited, Timeout

DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)
# What the server sends unauthenticated is shown with its control characters escaped.
_CONTROL = re.compile(r'[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]')
# The largest integer JSON carries exactly to the server (2^53 - 1); past it, a string of digits.
_SAFE_INT = 2 ** 53 - 1

_CLIENT_ID = re.compile(r'^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$')
_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,63}$')


def _key_of(spec, file):
    if not isinstance(spec, dict) or spec.get('type') != 'AES' or not isinstance(spec.get('data'), str):
        raise ConfigError('config_invalid', f'{file}: key: must be an AES key object')
    if spec.get('mode') == 'GCM':
        data = envelope.b64url_strict(spec['data']) if spec.get('encoding') == 'base64url' else None
        if data is None or len(data) != 32:
            raise ConfigError('config_invalid', f'{file}: key.data: must be 32 bytes in canonical base64url')
        return 'ps2', data
    if spec.get('mode') == 'CBC':
        data = spec['data'].encode('utf-8')
        if len(data) not in (16, 24, 32):
            raise ConfigError('config_invalid', f'{file}: key.data: must be 16, 24 or 32 bytes of UTF-8')
        return 'legacy', data
    raise ConfigError('config_invalid', f'{file}: key.mode: must be "GCM" (ps2) or "CBC" (legacy)')


class Client:
    """A psimbols client for one client config: `Client.from_config(path).call('supermath', 'factorial', n=3)`."""

    def __init__(self, client, server, key_spec, timeout=10.0, endpoint=None, source='client config', max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES):
        if not isinstance(client, str) or not _CLIENT_ID.match(client):
            raise ConfigError('config_invalid', f'{source}: client: must be a client id')
        if not isinstance(server, str) or not re.match(r'^https?://', server):
            raise ConfigError('config_invalid', f'{source}: server: must be an http:// or https:// URL')
        self.client, self.server = client, server
        self.mode, self._key = _key_of(key_spec, source)
        self.timeout = timeout
        self.max_response_bytes = max_response_bytes
        self.endpoint = endpoint or server
        if self.mode == 'legacy':
            warnings.warn(f'client "{client}" uses AES-CBC without authentication: its traffic can be altered; prefer a ps2 key', stacklevel=2)

    @classmethod
    def from_config(cls, path, **options):
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
        return cls(value.get('client'), value.get('server'), value.get('key'), source=path, **options)

    def call(self, module, function, **params):
        """Calls a function and returns its value; a function's error raises FunctionError."""
        response = self.request(module, function, params)
        if 'error' in response:
            raise FunctionError(response['error']['code'], response['error']['message'])
        return response['return']['value']

    def request(self, module, function, params=None):
        """Sends one call, sealed afresh, and returns the whole opened response."""
        if not _NAME.match(module) or not _NAME.match(function):
            raise ConfigError('usage', 'module and function names are letters, digits and "_"')
        message = {'request_id': str(uuid.uuid4()), 'run': {'module': module, 'function': function, 'params': params or {}}}
        if self.mode == 'ps2':
            token = envelope.seal(envelope.REQUEST, self._key, self.client, self.server, message)
        else:
            token = envelope.seal_legacy(self._key, message)
        status, headers, body = self._post({'client': self.client, 'server': self.server, 'request': token})
        return self._answer(status, headers, body, token, message['request_id'])

    def _post(self, outer):
        """One attempt: `timeout` bounds all of it, connect to last byte; at most `max_response_bytes` are read."""
        url = urllib.parse.urlsplit(self.endpoint)
        connection = http.client.HTTPSConnection if url.scheme == 'https' else http.client.HTTPConnection
        conn = connection(url.hostname or '', url.port, timeout=self.timeout or None)
        expired = threading.Event()

        def expire():
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

    def _read(self, res):
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

    def _too_large(self):
        return ProtocolError('bad_response', f'the response is larger than {self.max_response_bytes} bytes, so it was not read; max_response_bytes= raises the cap')

    def _failure(self, e, expired):
        """Every way an attempt can fail, as one of this package's errors."""
        if expired or isinstance(e, (socket.timeout, TimeoutError)):
            return Timeout('request_timeout', f'no answer from {self.endpoint} within {self.timeout} s')
        if isinstance(e, http.client.RemoteDisconnected):
            return NetworkError('network', f'cannot reach {self.endpoint}: it closed the connection without an answer')
        if isinstance(e, http.client.IncompleteRead):
            return NetworkError('network', f'cannot reach {self.endpoint}: it closed the connection in the middle of the answer')
        if isinstance(e, http.client.HTTPException):
            return ProtocolError('bad_response', f'{self.endpoint} answered with something that is not HTTP ({type(e).__name__})')
        if isinstance(e, OSError):
            return NetworkError('network', f'cannot reach {self.endpoint}: {_printable(str(e))}')
        return ProtocolError('bad_response', f'{self.endpoint}: {type(e).__name__}')

    def _open(self, body, token, request_id, status):
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

    def _answer(self, status, headers, body, token, request_id):
        retry_after = _seconds(headers.get('Retry-After') if headers else None)
        if status == 200:
            return self._open(body, token, request_id, status)
        if status == 401:
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
            where = _printable(headers.get('Location') or 'elsewhere', 200)
            raise ProtocolError('http_error', f'{self.endpoint} redirects to {where} ({status}); psimbols does not follow redirects, since a request is bound to one server: give the client config that URL')
        detail = _server_message(body)
        raise ProtocolError('http_error', f'{self.endpoint} answered {status}' + (f': {detail}' if detail else ''))


def _printable(text, limit=500):
    cut = text if len(text) <= limit else text[:limit] + '…'
    return _CONTROL.sub(lambda m: f'\\x{ord(m.group()):02x}' if ord(m.group()) < 0x100 else f'\\u{ord(m.group()):04x}', cut)


def _server_message(body):
    """The message of a plain JSON error body, escaped: it is not authenticated."""
    try:
        value = json.loads(body)
    except ValueError:
        return None
    message = value.get('message') if isinstance(value, dict) else None
    return _printable(message) if isinstance(message, str) else None


def _seconds(value):
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
