// AWS Lambda for Cognito's "Migrate user" trigger, forwarding to usher.
//
// Cognito invokes a Lambda, not a URL: this one signs the trigger's event (HMAC-SHA256 of
// "<unix seconds>.<body>", in X-Usher-Signature) and posts it to usher's /hooks/cognito, which
// checks the password (UserMigration_Authentication) or looks the user up
// (UserMigration_ForgotPassword) and hands back the event with its `response` filled in.
//
// Environment: USHER_URL (https://usher.example.com) and USHER_HOOK_SECRET (the key in usher's
// [serve.hooks.cognito] auth.secret_file; in production, from Secrets Manager or an encrypted
// variable). Runtime: Node.js 18 or later (global fetch). Timeout: 5 s, Cognito's limit.
import { createHmac } from 'node:crypto';

export const handler = async (event) => {
  const body = JSON.stringify(event);
  const at = Math.floor(Date.now() / 1000);
  const mac = createHmac('sha256', process.env.USHER_HOOK_SECRET)
    .update(`${at}.${body}`)
    .digest('hex');
  const response = await fetch(`${process.env.USHER_URL}/hooks/cognito`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-usher-signature': `t=${at},v1=${mac}`,
    },
    body,
    signal: AbortSignal.timeout(4500),
  });
  if (response.status === 200) {
    return await response.json();
  }
  let code = 'unknown';
  try {
    code = (await response.json()).error || code;
  } catch {
    // not usher's JSON
  }
  // Cognito shows this to the user: the same words for an unknown user and a wrong password.
  if (code === 'invalid_credentials' || code === 'not_found') {
    throw new Error('Bad username or password');
  }
  // usher could not tell now (legacy down, rate-limited), or refused this Lambda's signature
  // (`unauthorized`: a setup error): Cognito fails this attempt.
  throw new Error(`Migration unavailable (HTTP ${response.status} ${code})`);
};
