"""The ps2 envelope and the seed's legacy format (docs/PROTOCOL.md), written from the document."""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import struct
import time
from typing import Any, Callable, Dict, Optional, Tuple, Union

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = 'ps2.'
VERSION, REQUEST, RESPONSE, CLOCK = 0x02, 0x01, 0x02, 0x03
HEADER, NONCE, TAG = 50, 32, 16
WINDOW = (300, 60)  # seconds into the past and the future ("Acceptance", rule 6)
_B64URL = re.compile(r'^[A-Za-z0-9_-]*$')
_B64 = re.compile(r'^[A-Za-z0-9+/]*={0,2}$')
_NAME = re.compile(r'^[A-Za-z_][A-Za-z0-9_]{0,63}$')

Message = Dict[str, Any]
Plaintext = Union[str, Message]


class Refused(Exception):
    """A token that does not open; `reason` is the server's name for why (PROTOCOL.md)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode('ascii')


def b64url_strict(text: str) -> Optional[bytes]:
    """Canonical base64url without padding, or None ("Token encoding")."""
    if len(text) % 4 == 1 or not _B64URL.match(text):
        return None
    data = base64.urlsafe_b64decode(text + '=' * (-len(text) % 4))
    return data if b64url(data) == text else None


def b64_strict(text: str) -> Optional[bytes]:
    if len(text) % 4 != 0 or not _B64.match(text):
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except binascii.Error:
        return None
    return data if base64.b64encode(data).decode('ascii') == text else None


def kid(key: bytes) -> bytes:
    return hmac.new(key, b'psimbols/v2/kid', hashlib.sha256).digest()[:8]


def _lp(data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + data


def _message_key(key: bytes, kind: int, nonce: bytes) -> Tuple[bytes, bytes]:
    info = (b'psimbols/v2/c2s' if kind == REQUEST else b'psimbols/v2/s2c') + nonce
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=None, info=info).derive(key)
    return okm[:32], okm[32:44]


def _aad(header: bytes, client: str, server: str, binding: bytes) -> bytes:
    return header + _lp(client.encode('utf-8')) + _lp(server.encode('utf-8')) + _lp(binding)


def binding_of(request_token: str) -> bytes:
    return hashlib.sha256(request_token.encode('ascii')).digest()


def seal(kind: int, key: bytes, client: str, server: str, plaintext: Plaintext, binding: bytes = b'', ts: Optional[int] = None, nonce: Optional[bytes] = None) -> str:
    nonce = os.urandom(NONCE) if nonce is None else nonce
    ts = int(time.time()) if ts is None else ts
    header = bytes([VERSION, kind]) + kid(key) + struct.pack('>Q', ts) + nonce
    mkey, iv = _message_key(key, kind, nonce)
    text = plaintext if isinstance(plaintext, str) else json.dumps(plaintext, separators=(',', ':'), ensure_ascii=False)
    body = AESGCM(mkey).encrypt(iv, text.encode('utf-8'), _aad(header, client, server, binding))
    return PREFIX + b64url(header + body)


def _parse(token: str, kind: int) -> Tuple[bytes, bytes, int, bytes, bytes]:
    if not token.startswith(PREFIX):
        raise Refused('malformed_token')
    raw = b64url_strict(token[len(PREFIX):])
    if raw is None:
        raise Refused('malformed_token')
    if len(raw) < 1 or raw[0] != VERSION:
        raise Refused('bad_version')
    if len(raw) < 2 or raw[1] != kind:
        raise Refused('bad_kind')
    if len(raw) <= HEADER + TAG:
        raise Refused('bad_length')
    return raw[:HEADER], raw[2:10], struct.unpack('>Q', raw[10:18])[0], raw[18:HEADER], raw[HEADER:]


def _decrypt(key: bytes, kind: int, header: bytes, nonce: bytes, body: bytes, aad: bytes) -> str:
    mkey, iv = _message_key(key, kind, nonce)
    try:
        text = AESGCM(mkey).decrypt(iv, body, aad)
        return text.decode('utf-8')
    except (InvalidTag, ValueError):
        raise Refused('bad_tag')


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _request_shape(value: Any) -> bool:
    if not isinstance(value, dict) or not _request_id(value.get('request_id')):
        return False
    run = value.get('run')
    if not isinstance(run, dict):
        return False
    params = run.get('params', {})
    return all(isinstance(run.get(k), str) and _NAME.match(run[k]) for k in ('module', 'function')) and isinstance(params, dict)


def _request_id(value: Any) -> bool:
    # 1 to 128 code points: len() counts them.
    return isinstance(value, str) and 0 < len(value) <= 128


def _response_shape(value: Any) -> bool:
    if not isinstance(value, dict) or not _request_id(value.get('request_id')):
        return False
    ret, err = value.get('return'), value.get('error')
    if isinstance(ret, dict) and err is None and 'value' in ret:
        return ret.get('comment') is None or isinstance(ret['comment'], str)
    return isinstance(err, dict) and ret is None and isinstance(err.get('code'), str) and isinstance(err.get('message'), str)


def open_request(token: str, key: bytes, client: str, server: str, now: Optional[int] = None, window: Tuple[int, int] = WINDOW) -> Message:
    """The server's acceptance rules 1-8 for one key (the replay check needs a store)."""
    header, token_kid, ts, nonce, body = _parse(token, REQUEST)
    if token_kid != kid(key):
        raise Refused('unknown_key')
    text = _decrypt(key, REQUEST, header, nonce, body, _aad(header, client, server, b''))
    now = int(time.time()) if now is None else now
    if ts < now - window[0]:
        raise Refused('stale')
    if ts > now + window[1]:
        raise Refused('future')
    message: Message = _json(text)
    if not _request_shape(message):
        raise Refused('bad_plaintext')
    return message


def open_response(token: str, key: bytes, client: str, server: str, request_token: str) -> Message:
    """A response opens only for the request token it answers."""
    header, token_kid, _ts, nonce, body = _parse(token, RESPONSE)
    if token_kid != kid(key):
        raise Refused('unknown_key')
    text = _decrypt(key, RESPONSE, header, nonce, body, _aad(header, client, server, binding_of(request_token)))
    message: Message = _json(text)
    if not _response_shape(message):
        raise Refused('bad_plaintext')
    return message


def seal_legacy(key: bytes, plaintext: Plaintext, iv: Optional[bytes] = None) -> str:
    iv = os.urandom(16) if iv is None else iv
    padder = padding.PKCS7(128).padder()
    text = plaintext if isinstance(plaintext, str) else json.dumps(plaintext, separators=(',', ':'), ensure_ascii=False)
    data = padder.update(text.encode('utf-8')) + padder.finalize()
    enc = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + enc.update(data) + enc.finalize()).decode('ascii')


def open_legacy(token: str, key: bytes, shape: Callable[[Any], bool] = _response_shape) -> Message:
    raw = b64_strict(token)
    if raw is None:
        raise Refused('malformed_token')
    if len(raw) < 32 or len(raw) % 16 != 0:
        raise Refused('bad_length')
    dec = Cipher(algorithms.AES(key), modes.CBC(raw[:16])).decryptor()
    plain = dec.update(raw[16:]) + dec.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        text = (unpadder.update(plain) + unpadder.finalize()).decode('utf-8')
    except ValueError:
        raise Refused('legacy_refused')
    message: Message = _json(text)
    if not shape(message):
        raise Refused('bad_plaintext')
    return message


def open_legacy_request(token: str, key: bytes) -> Message:
    return open_legacy(token, key, _request_shape)


def open_clock(token: str, key: bytes, client: str, server: str, request_token: str) -> Tuple[str, int]:
    """A clock answer: the server's time, sealed for the request it answers. Returns (request_id, now)."""
    header, token_kid, ts, nonce, body = _parse(token, CLOCK)
    if token_kid != kid(key):
        raise Refused('unknown_key')
    message = _json(_decrypt(key, CLOCK, header, nonce, body, _aad(header, client, server, binding_of(request_token))))
    clock = message.get('clock') if isinstance(message, dict) else None
    now = clock.get('now') if isinstance(clock, dict) else None
    if not _request_id(message.get('request_id') if isinstance(message, dict) else None) or type(now) is not int or now != ts:
        raise Refused('bad_plaintext')
    return message['request_id'], now
