"""Driven by test/python-client.test.ts against a real `psimbols serve`: each scenario's outcome,
as one JSON object on stdout. Argument: a JSON object of client config paths and URLs."""
import json
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
import psimbols  # noqa: E402


def outcome(fn):
    try:
        return {'value': fn()}
    except psimbols.PsimbolsError as e:
        out = {'error': type(e).__name__, 'code': e.code, 'exit': e.exit_code, 'message': str(e)}
        if getattr(e, 'retry_after', None) is not None:
            out['retry_after'] = e.retry_after
        return out


spec = json.loads(sys.argv[1])
good = psimbols.Client.from_config(spec['good'])
results = {
    'value': outcome(lambda: good.call('supermath', 'factorial', n=5)),
    'function_error': outcome(lambda: good.call('supermath', 'factorial', n=-1)),
    'wrong_key': outcome(lambda: psimbols.Client.from_config(spec['wrong']).call('supermath', 'factorial', n=3)),
    'down': outcome(lambda: psimbols.Client.from_config(spec['good'], endpoint=spec['down']).call('supermath', 'factorial', n=3)),
    'timeout': outcome(lambda: psimbols.Client.from_config(spec['good'], endpoint=spec['silent'], timeout=0.3).call('supermath', 'factorial', n=3)),
    'unbound': outcome(lambda: psimbols.Client.from_config(spec['good'], endpoint=spec['unbound']).call('supermath', 'factorial', n=3)),
    'missing': outcome(lambda: psimbols.Client.from_config(spec['missing'])),
}
small = psimbols.Client.from_config(spec['small'])
results['limited'] = [outcome(lambda: small.call('supermath', 'gcd', a=4, b=6)) for _ in range(11)]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter('always')
    legacy = psimbols.Client.from_config(spec['legacy'])
    results['legacy'] = outcome(lambda: legacy.call('supermath', 'factorial', n=4))
    results['legacy_warned'] = any('without authentication' in str(w.message) for w in caught)
print(json.dumps(results))
