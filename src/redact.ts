/**
 * Masking of passwords in text meant for output, logs or reports. Every place that prints or stores
 * text that may hold a connection string (a URL, the settings line, a command line, a message) goes
 * through `redactSecrets`.
 */

export const MASK = '*****';

// scheme://user:password@host: the password runs to the last @ before the host (libpq stops the
// userinfo at the first /), so that an unencoded @ in it is masked too.
const URL_USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/:@]*):[^\s/]*@/gi;
// ?password=... or &password=... in a URL: up to the next parameter.
const URL_PARAMETER = /([?&]password=)[^\s&#]*/gi;
// Keyword/value conninfo (password=secret, password = 'sec ret'), and environment-style settings
// (PGPASSWORD=secret, DB_PASSWORD=secret, --password=secret). libpq quotes values with single
// quotes and escapes with a backslash.
// Not after ? or &: URL parameters end at the next &, which a conninfo value may contain.
const KEYWORD = /(?<![?&])(\b[a-z_-]*password\s*=\s*)(?:'(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s'"]+)/gi;

/**
 * Replaces every password in `text`: the password of a URL's userinfo, a `password` URL parameter,
 * a keyword/value `password=` (libpq conninfo, PGPASSWORD=... environment settings), and each of
 * `secrets` wherever it appears literally (a known password given some other way, e.g. `-W pass`).
 *
 * @example
 * redactSecrets('psql postgres://app:s3cret@db/app -c "select 1"')
 * // 'psql postgres://app:*****@db/app -c "select 1"'
 * redactSecrets('host=db user=app password=s3cret') // 'host=db user=app password=*****'
 */
export function redactSecrets(text: string, secrets: readonly string[] = []): string {
  let out = text.replace(URL_USERINFO, `$1:${MASK}@`).replace(URL_PARAMETER, `$1${MASK}`).replace(KEYWORD, `$1${MASK}`);
  // Longest first, so that a secret containing another is masked whole.
  for (const secret of [...new Set(secrets)].sort((a, b) => b.length - a.length)) {
    // Very short strings would mask ordinary words; such a password is masked by the patterns above.
    if (secret.length >= 4) out = out.split(secret).join(MASK);
  }
  return out;
}

/**
 * The password of a connection URL, as written and decoded, for `redactSecrets`' `secrets`: the
 * same password may appear elsewhere (a command's `-W`, an environment setting) in either form.
 */
export function urlSecrets(url: string | undefined): string[] {
  if (!url) return [];
  const found: string[] = [];
  try {
    const u = new URL(url);
    for (const value of [u.password, u.searchParams.get('password') ?? '']) {
      if (!value) continue;
      found.push(value);
      try {
        found.push(decodeURIComponent(value));
      } catch {
        // Not valid percent-encoding: the raw form is enough.
      }
    }
  } catch {
    // Not a URL: nothing known to mask beyond the patterns.
  }
  return [...new Set(found)];
}
