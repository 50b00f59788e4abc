import { isIPv6 } from 'node:net';

// What an HTTP health check may send: the Host header and the request path go on the wire as they are, so a
// value Node's HTTP client would refuse (CR, LF, NUL, spaces, non-ASCII) must be refused when the
// configuration is read, not found out by every probe failing at run time.

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$/;
const PORT = /^(?:[1-9]\d{0,4})$/;

/** Why `host` is not a usable Host header (a name or IP, optional :port, IPv6 in brackets), or undefined. */
export function hostHeaderProblem(host: string): string | undefined {
  if (/[^\x21-\x7e]/.test(host)) return 'must be printable ASCII without spaces (no CR, LF, NUL or other control characters)';
  let name = host;
  let port: string | undefined;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0 || !isIPv6(host.slice(1, close))) return 'an IPv6 address in brackets must be a valid address, e.g. [2001:db8::1]:8080';
    const rest = host.slice(close + 1);
    if (rest !== '' && !rest.startsWith(':')) return 'expected ":PORT" after "]"';
    return rest === '' || (PORT.test(rest.slice(1)) && Number(rest.slice(1)) <= 65535) ? undefined : 'the port must be 1-65535';
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0) {
    if (host.indexOf(':') !== colon) return 'an IPv6 address goes in brackets, e.g. [2001:db8::1]';
    name = host.slice(0, colon);
    port = host.slice(colon + 1);
    if (!PORT.test(port) || Number(port) > 65535) return 'the port must be 1-65535';
  }
  return HOST_NAME.test(name) ? undefined : 'must be a host name or IP address, optionally with :PORT';
}

/** A request path Node's HTTP client sends as is: "/" then printable ASCII (percent-encode the rest). */
export const HTTP_PATH = /^\/[\x21-\x7e]*$/;
