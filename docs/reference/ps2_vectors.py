#!/usr/bin/env python3
"""An independent implementation of docs/PROTOCOL.md in Python (pip: cryptography), written from
the document alone. It generates test/vectors/ps2.json; the TypeScript tests check that psimbols
produces and refuses exactly these tokens, so the two implementations agree byte for byte.

    python3 docs/reference/ps2_vectors.py > test/vectors/ps2.json
    cp test/vectors/ps2.json clients/python/tests/vectors/ps2.json
"""
import base64, hashlib, hmac, json, struct
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

def b64url(b): return base64.urlsafe_b64encode(b).rstrip(b'=').decode('ascii')
def lp(b): return struct.pack('>I', len(b)) + b

def kid(key): return hmac.new(key, b'psimbols/v2/kid', hashlib.sha256).digest()[:8]

def seal(kind, key, ts, n, client, server, binding, plaintext):
    header = bytes([0x02, kind]) + kid(key) + struct.pack('>Q', ts) + n
    info = (b'psimbols/v2/c2s' if kind == 1 else b'psimbols/v2/s2c') + n
    okm = HKDF(algorithm=hashes.SHA256(), length=44, salt=None, info=info).derive(key)
    aad = header + lp(client.encode()) + lp(server.encode()) + lp(binding)
    return 'ps2.' + b64url(header + AESGCM(okm[:32]).encrypt(okm[32:44], plaintext.encode(), aad))

def legacy_bytes(key, iv, plain):
    p = padding.PKCS7(128).padder(); data = p.update(plain) + p.finalize()
    e = Cipher(algorithms.AES(key.encode()), modes.CBC(iv)).encryptor()
    return base64.b64encode(iv + e.update(data) + e.finalize()).decode('ascii')

def legacy(key, iv, plaintext): return legacy_bytes(key, iv, plaintext.encode())

KEY = bytes(range(32)); N = bytes(range(0x20, 0x40)); N2 = bytes(range(0x40, 0x60)); TS = 1767225600
CLIENT = '123'; SERVER = 'http://psimbols.example.com:9393/'
REQ = '{"request_id":"789","run":{"module":"supermath","function":"factorial","params":{"n":3}}}'
RES = '{"request_id":"789","return":{"value":6,"comment":"3! = 6"}}'

request = seal(1, KEY, TS, N, CLIENT, SERVER, b'', REQ)
binding = hashlib.sha256(request.encode('ascii')).digest()
response = seal(2, KEY, TS, N2, CLIENT, SERVER, binding, RES)
# A clock answer to the same request, from a server whose clock reads TS + 600: kind 3.
N3 = bytes(range(0x60, 0x80)); CLOCK_NOW = TS + 600
CLK = '{"request_id":"789","clock":{"now":%d}}' % CLOCK_NOW
clock = seal(3, KEY, CLOCK_NOW, N3, CLIENT, SERVER, binding, CLK)
raw = base64.urlsafe_b64decode(request[4:] + '=' * (-len(request[4:]) % 4))

def flip(offset, bit=0x01):
    b = bytearray(raw); b[offset] ^= bit; return 'ps2.' + b64url(bytes(b))

body = request[4:]
alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
assert len(raw) % 3 != 0, 'the vector needs spare bits for the non-canonical case'
last = alphabet.index(body[-1]); spare = (1 << (2 if len(raw) % 3 == 2 else 4)) - 1
noncanonical = 'ps2.' + body[:-1] + alphabet[last | spare if last & spare == 0 else last & ~spare]

refusals = [
    ('version byte has one flipped bit', flip(0), 'bad_version'),
    ('kind byte has one flipped bit', flip(1, 0x03), 'bad_kind'),
    ('key id has one flipped bit', flip(2), 'unknown_key'),
    ('timestamp has one flipped bit', flip(17), 'bad_tag'),
    ('nonce has one flipped bit', flip(18), 'bad_tag'),
    ('ciphertext has one flipped bit', flip(50), 'bad_tag'),
    ('tag has one flipped bit', flip(len(raw) - 1), 'bad_tag'),
    ('token is truncated inside the header', 'ps2.' + b64url(raw[:40]), 'bad_length'),
    ('tag is truncated by one byte', 'ps2.' + b64url(raw[:-1]), 'bad_tag'),
    ('tag is missing', 'ps2.' + b64url(raw[:-16]), 'bad_tag'),
    ('token has base64 padding', request + '=' * (-len(body) % 4 or 4), 'malformed_token'),
    ('token uses "+" from standard base64', 'ps2.' + body[:10] + '+' + body[11:], 'malformed_token'),
    ('token uses "/" from standard base64', 'ps2.' + body[:10] + '/' + body[11:], 'malformed_token'),
    ('token contains whitespace', 'ps2.' + body[:20] + ' ' + body[20:], 'malformed_token'),
    ('token has a non-canonical final character', noncanonical, 'malformed_token'),
    ('token lacks the ps2. prefix', body, 'malformed_token'),
    ('token is stale: 301 s old', seal(1, KEY, TS - 301, N, CLIENT, SERVER, b'', REQ), 'stale'),
    ('token is from the future: 61 s ahead', seal(1, KEY, TS + 61, N, CLIENT, SERVER, b'', REQ), 'future'),
    ('token was sealed for another client', seal(1, KEY, TS, N, '124', SERVER, b'', REQ), 'bad_tag'),
    ('token was sealed for another server', seal(1, KEY, TS, N, CLIENT, 'http://evil.example.com:9393/', b'', REQ), 'bad_tag'),
    ('a response fed back as a request', response, 'bad_kind'),
    ('plaintext is not a request object', seal(1, KEY, TS, N, CLIENT, SERVER, b'', '{"request_id":"789"}'), 'bad_plaintext'),
]
accepted = [
    ('token is exactly 300 s old', seal(1, KEY, TS - 300, N, CLIENT, SERVER, b'', REQ)),
    ('token is exactly 60 s ahead', seal(1, KEY, TS + 60, N, CLIENT, SERVER, b'', REQ)),
]

LKEY = '12345678901234567890123456789012'; IV = bytes(range(16))
good_legacy = legacy(LKEY, IV, REQ)
lraw = base64.b64decode(good_legacy)
def lflip(offset):
    b = bytearray(lraw); b[offset] ^= 1; return base64.b64encode(bytes(b)).decode()
legacy_refusals = [
    ('bad padding: last plaintext byte altered through the IV-less last block', lflip(len(lraw) - 1), 'legacy_refused'),
    ('invalid UTF-8 with valid padding', legacy_bytes(LKEY, IV, b'{"a":"\xff\xfe"}'), 'legacy_refused'),
    ('valid padding, not JSON', legacy(LKEY, IV, 'not json at all'), 'bad_plaintext'),
    ('valid JSON, not a request', legacy(LKEY, IV, '{"request_id":"789"}'), 'bad_plaintext'),
    ('not a whole number of blocks', base64.b64encode(lraw[:-1]).decode(), 'bad_length'),
    ('base64 without its padding', good_legacy.rstrip('='), 'malformed_token'),
]

print(json.dumps({
    'ps2': {
        'key': b64url(KEY), 'kid': kid(KEY).hex(), 'client': CLIENT, 'server': SERVER, 'now': TS,
        'request': {'ts': TS, 'nonce': N.hex(), 'plaintext': REQ, 'token': request},
        'response': {'ts': TS, 'nonce': N2.hex(), 'plaintext': RES, 'binding': binding.hex(), 'token': response},
        'clock': {'ts': CLOCK_NOW, 'nonce': N3.hex(), 'plaintext': CLK, 'binding': binding.hex(), 'token': clock},
        'refused': [{'name': a, 'token': t, 'reason': r} for a, t, r in refusals],
        'accepted': [{'name': a, 'token': t} for a, t in accepted],
    },
    'legacy': {
        'key': LKEY, 'iv': IV.hex(), 'plaintext': REQ, 'token': good_legacy,
        'refused': [{'name': a, 'token': t, 'reason': r} for a, t, r in legacy_refusals],
    },
}, indent=2))
