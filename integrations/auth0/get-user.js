/**
 * Auth0 custom database "Get User" script for usher (Import Users to Auth0).
 *
 * Paste into Custom Database > Get User, with the same USHER_URL and USHER_API_KEY settings
 * as the Login script. Auth0 runs it on sign-up, password reset, email change and Management
 * API writes for users it does not hold yet: usher answers the profile of the user the email
 * names (in its store, or in legacy, not yet migrated), with the same user_id the Login script
 * will give, or 404 when nobody has it.
 */
async function getUser(email, callback) {
  let response;
  try {
    response = await fetch(`${configuration.USHER_URL}/hooks/auth0/get-user`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-api-key': configuration.USHER_API_KEY,
      },
      body: JSON.stringify({ email }),
      signal: AbortSignal.timeout(10000),
    });
  } catch (e) {
    return callback(new Error(`usher could not be reached: ${e.name}`));
  }
  if (response.status === 200) {
    return callback(null, await response.json());
  }
  if (response.status === 404) {
    return callback(null);
  }
  return callback(new Error(`usher could not look the user up now (HTTP ${response.status})`));
}
