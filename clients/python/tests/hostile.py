"""Driven by test/client-hostile-server.test.ts: the client against servers that misbehave.
Argument: a JSON object of behaviour -> URL, and the client config's path. Prints, per behaviour,
the exception the client raised (class, code, exit code, message, its cause) and the seconds it took."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
import psimbols  # noqa: E402

spec = json.loads(sys.argv[1])
results = {}
for behaviour, url in spec['servers'].items():
    options = {'timeout': 1, **spec.get('options', {}).get(behaviour, {})}
    client = psimbols.Client.from_config(spec['config'], endpoint=url, **options)
    start = time.monotonic()
    try:
        results[behaviour] = {'value': client.call('supermath', 'factorial', n=3)}
    except psimbols.PsimbolsError as e:
        results[behaviour] = {'error': type(e).__name__, 'code': e.code, 'exit': e.exit_code, 'message': str(e), 'cause': type(e.__cause__).__name__ if e.__cause__ else None}
    except Exception as e:  # what the client must never let out
        results[behaviour] = {'escaped': type(e).__name__, 'message': str(e)}
    results[behaviour]['seconds'] = time.monotonic() - start
print(json.dumps(results))
