/**
 * Auth0 custom database "Login" script for usher (Import Users to Auth0, lazy migration).
 *
 * Paste into Authentication > Database > (connection) > Custom Database > Login, and set two
 * settings on that page: USHER_URL (https://usher.example.com, no trailing slash) and
 * USHER_API_KEY (the secret in usher's [serve.hooks.auth0] auth.secret_file; usher.toml names
 * the header, `x-api-key`). usher checks the password against its store, then legacy, migrates
 * the user, and answers their profile; Auth0 then keeps the password and never asks again.
 *
 * usher answers 200 with the profile, 401 `invalid_credentials` when the password is not the
 * user's (or nobody has the identifier), and 503 or 429 when it cannot tell now: that is an error for Auth0, not a
 * wrong password, so the user is never told their password is wrong because legacy was down.
 */
async function login(identifier, password, callback) {
  let response;
  try {
    response = await fetch(`${configuration.USHER_URL}/hooks/auth0/login`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': configuration.USHER_API_KEY,
      },
      body: JSON.stringify({ email: identifier, password }),
      // Auth0 gives a script about 20 s; usher answers within its own budget (8 s).
      signal: AbortSignal.timeout(10000),
    });
  } catch (e) {
    return callback(new Error(`usher could not be reached: ${e.name}`));
  }
  if (response.status === 200) {
    return callback(null, await response.json());
  }
  // Auth0 takes one function a script: the helper lives inside it.
  let code = 'unknown';
  try {
    code = (await response.json()).error || code;
  } catch (e) {
    // not usher's JSON
  }
  if (code === 'invalid_credentials') {
    return callback(new WrongUsernameOrPasswordError(identifier, 'Wrong email or password.'));
  }
  // `unauthorized` is usher refusing this script's key: a setup error, not the user's.
  return callback(new Error(`usher could not check the password (HTTP ${response.status} ${code})`));
}

