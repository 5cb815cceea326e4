"""Every vector in tests/vectors/ps2.json (a copy of the repository's test/vectors/ps2.json, kept
identical by test/python-client.test.ts), in Python: the two implementations cannot drift apart.

    python3 -m unittest discover -s tests   (or pytest, from clients/python)
"""
import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
from psimbols import envelope  # noqa: E402

with open(os.path.join(os.path.dirname(__file__), 'vectors', 'ps2.json'), encoding='utf-8') as f:
    VECTORS = json.load(f)
V = VECTORS['ps2']
L = VECTORS['legacy']
KEY = envelope.b64url_strict(V['key'])


class Ps2Vectors(unittest.TestCase):
    def test_kid(self):
        self.assertEqual(envelope.kid(KEY).hex(), V['kid'])

    def test_seals_exactly_the_request_and_response_tokens(self):
        r = V['request']
        token = envelope.seal(envelope.REQUEST, KEY, V['client'], V['server'], r['plaintext'], ts=r['ts'], nonce=bytes.fromhex(r['nonce']))
        self.assertEqual(token, r['token'])
        s = V['response']
        response = envelope.seal(envelope.RESPONSE, KEY, V['client'], V['server'], s['plaintext'], binding=envelope.binding_of(token), ts=s['ts'], nonce=bytes.fromhex(s['nonce']))
        self.assertEqual(response, s['token'])

    def test_opens_the_request_and_the_response_only_for_its_request(self):
        self.assertEqual(envelope.open_request(V['request']['token'], KEY, V['client'], V['server'], now=V['now']), json.loads(V['request']['plaintext']))
        self.assertEqual(envelope.open_response(V['response']['token'], KEY, V['client'], V['server'], V['request']['token']), json.loads(V['response']['plaintext']))
        other = envelope.seal(envelope.REQUEST, KEY, V['client'], V['server'], V['request']['plaintext'])
        with self.assertRaises(envelope.Refused) as e:
            envelope.open_response(V['response']['token'], KEY, V['client'], V['server'], other)
        self.assertEqual(e.exception.reason, 'bad_tag')

    def test_opens_the_clock_answer_only_for_its_request(self):
        c = V['clock']
        self.assertEqual(envelope.open_clock(c['token'], KEY, V['client'], V['server'], V['request']['token']), ('789', c['ts']))
        token = envelope.seal(envelope.CLOCK, KEY, V['client'], V['server'], c['plaintext'], binding=envelope.binding_of(V['request']['token']), ts=c['ts'], nonce=bytes.fromhex(c['nonce']))
        self.assertEqual(token, c['token'])
        with self.assertRaises(envelope.Refused) as e:
            envelope.open_response(c['token'], KEY, V['client'], V['server'], V['request']['token'])
        self.assertEqual(e.exception.reason, 'bad_kind')

    def test_every_refusal_vector_for_its_reason(self):
        for case in V['refused']:
            with self.subTest(case['name']):
                with self.assertRaises(envelope.Refused) as e:
                    envelope.open_request(case['token'], KEY, V['client'], V['server'], now=V['now'])
                self.assertEqual(e.exception.reason, case['reason'])

    def test_every_acceptance_vector(self):
        for case in V['accepted']:
            with self.subTest(case['name']):
                self.assertTrue(envelope.open_request(case['token'], KEY, V['client'], V['server'], now=V['now']))


class LegacyVectors(unittest.TestCase):
    KEY = L['key'].encode('utf-8')

    def test_seals_and_opens_the_vector(self):
        self.assertEqual(envelope.seal_legacy(self.KEY, L['plaintext'], iv=bytes.fromhex(L['iv'])), L['token'])
        self.assertEqual(envelope.open_legacy_request(L['token'], self.KEY), json.loads(L['plaintext']))

    def test_every_refusal_vector_for_its_reason(self):
        for case in L['refused']:
            with self.subTest(case['name']):
                with self.assertRaises(envelope.Refused) as e:
                    envelope.open_legacy_request(case['token'], self.KEY)
                self.assertEqual(e.exception.reason, case['reason'])


if __name__ == '__main__':
    unittest.main()
