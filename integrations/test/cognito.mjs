// Runs usher's Cognito Lambda as Lambda does: its `handler` called with the trigger's event.
// stdin: the event. Environment: USHER_URL, USHER_HOOK_SECRET.
// stdout: {"result": <what the handler returned>} or {"error": "<message it threw>"}.
import { readFileSync } from 'node:fs';
import { handler } from '../cognito/index.mjs';

const event = JSON.parse(readFileSync(0, 'utf8'));
try {
  process.stdout.write(JSON.stringify({ result: await handler(event) }));
} catch (e) {
  process.stdout.write(JSON.stringify({ error: e.message }));
}
