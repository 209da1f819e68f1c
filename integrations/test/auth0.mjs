// Runs one of usher's Auth0 scripts as Auth0 does: the script's text in a sandbox whose
// globals are Auth0's (`configuration`, `WrongUsernameOrPasswordError`) and the runtime's
// (`fetch`), its function called with Auth0's arguments and a `callback`.
// stdin: {"script": "<path>", "function": "login" | "getUser", "args": [...],
//         "configuration": {...}}
// stdout: {"error": null | {"name", "message", "user"}, "profile": <object or null>}
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

class WrongUsernameOrPasswordError extends Error {
  constructor(user, message) {
    super(message);
    this.name = 'WrongUsernameOrPasswordError';
    this.user = user;
  }
}

const input = JSON.parse(readFileSync(0, 'utf8'));
const sandbox = vm.createContext({
  configuration: input.configuration,
  WrongUsernameOrPasswordError,
  fetch,
  AbortSignal,
});
vm.runInContext(readFileSync(input.script, 'utf8'), sandbox, { filename: input.script });
const result = await new Promise((resolve) => {
  sandbox[input.function](...input.args, (error, profile) =>
    resolve({
      error: error ? { name: error.name, message: error.message, user: error.user ?? null } : null,
      profile: profile ?? null,
    }),
  );
});
process.stdout.write(JSON.stringify(result));
