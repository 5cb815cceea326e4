"""The client: read a client config, seal a call, send it, open the answer for this request only."""
import json
import re
import socket
import urllib.error
import urllib.request
import uuid
import warnings

from . import envelope
from .errors import AuthError, ConfigError, FunctionError, NetworkError, ProtocolError, RateLimited, Timeout

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

    def __init__(self, client, server, key_spec, timeout=10.0, endpoint=None, source='client config'):
        if not isinstance(client, str) or not _CLIENT_ID.match(client):
            raise ConfigError('config_invalid', f'{source}: client: must be a client id')
        if not isinstance(server, str) or not re.match(r'^https?://', server):
            raise ConfigError('config_invalid', f'{source}: server: must be an http:// or https:// URL')
        self.client, self.server = client, server
        self.mode, self._key = _key_of(key_spec, source)
        self.timeout = timeout
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
        data = json.dumps(outer).encode('utf-8')
        req = urllib.request.Request(self.endpoint, data=data, method='POST', headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as res:
                return res.status, res.headers, res.read().decode('utf-8', 'replace')
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read().decode('utf-8', 'replace')
        except (socket.timeout, TimeoutError):
            raise Timeout('request_timeout', f'no answer from {self.endpoint} within {self.timeout} s') from None
        except urllib.error.URLError as e:
            if isinstance(e.reason, (socket.timeout, TimeoutError)):
                raise Timeout('request_timeout', f'no answer from {self.endpoint} within {self.timeout} s') from None
            raise NetworkError('network', f'cannot reach {self.endpoint}: {e.reason}') from None

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
        raise ProtocolError('http_error', f'{self.endpoint} answered {status}')


def _seconds(value):
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
