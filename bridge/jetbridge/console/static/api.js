// The console's only way to the bridge: POST /api/messages/, as Jet Admin's front end sends it.
export const MESSAGES_URL = new URL('/api/messages/', window.location.href).href;
const AUTH_KEY = 'jetbridge.console.authorization';
const SCHEMES = /^(Bearer|JWT|Token|ProjectToken)\s/i;

export function authorization() {
  return window.sessionStorage.getItem(AUTH_KEY) || '';
}

// Stores what the user pasted; a bare key becomes a Bearer credential.
export function setAuthorization(text) {
  const value = text.trim();
  if (!value) {
    window.sessionStorage.removeItem(AUTH_KEY);
    return '';
  }
  const header = SCHEMES.test(value) ? value : `Bearer ${value}`;
  window.sessionStorage.setItem(AUTH_KEY, header);
  return header;
}

// The file name of an attachment: filename*=UTF-8'' wins over the ASCII filename.
export function filenameOf(disposition) {
  const exact = /filename\*=UTF-8''([^;]+)/i.exec(disposition);
  if (exact) {
    try {
      return decodeURIComponent(exact[1].trim());
    } catch {
      // fall through to the plain name
    }
  }
  const plain = /filename="?([^";]+)"?/i.exec(disposition);
  return plain ? plain[1] : 'download';
}

// Sends one message; the answer says everything the outcome panel shows.
export async function send(name, params) {
  const message = params === undefined ? { name } : { name, params };
  const headers = { 'Content-Type': 'application/json;charset=utf-8' };
  const credential = authorization();
  if (credential) headers.Authorization = credential;
  const started = performance.now();
  const answer = { message, status: 0, ok: false, requestId: null, ms: 0 };
  try {
    const response = await fetch(MESSAGES_URL, {
      method: 'POST', headers, body: JSON.stringify(message), cache: 'no-store',
    });
    answer.status = response.status;
    answer.ok = response.ok;
    answer.requestId = response.headers.get('X-Request-ID');
    answer.contentType = response.headers.get('Content-Type') || '';
    const disposition = response.headers.get('Content-Disposition') || '';
    if (/^\s*attachment/i.test(disposition)) {
      const blob = await response.blob();
      answer.file = { blob, filename: filenameOf(disposition), contentType: answer.contentType };
    } else {
      answer.text = await response.text();
      try {
        answer.body = answer.text ? JSON.parse(answer.text) : null;
        answer.json = true;
      } catch {
        answer.json = false;
      }
    }
  } catch (error) {
    answer.networkError = String(error);
  }
  answer.ms = performance.now() - started;
  return answer;
}

// A curl line for the same message; the credential stays in the environment, never on screen.
export function curlLine(message) {
  const body = JSON.stringify(message).replaceAll("'", "'\\''");
  const auth = authorization() ? ' -H "Authorization: $JETBRIDGE_AUTHORIZATION"' : '';
  return `curl -s -H 'Content-Type: application/json'${auth} ${MESSAGES_URL} -d '${body}'`;
}
