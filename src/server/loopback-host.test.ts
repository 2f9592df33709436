import { describe, expect, it } from 'vitest';
import { addressedToLoopback, allowedHostName, isLoopbackHost, loopbackHostCheck } from './loopback-host.js';

describe('addressedToLoopback', () => {
  it('takes the loopback names and addresses, with or without a port', () => {
    for (const host of [
      'localhost', 'localhost:4318', 'LOCALHOST:4318', 'localhost.:4318', 'n1lens.localhost:4318', '127.0.0.1', '127.0.0.1:4318', '127.1.2.3:80',
      '[::1]', '[::1]:4318', '[0:0:0:0:0:0:0:1]:4318', '[::ffff:127.0.0.1]:4318', undefined,
    ]) {
      expect(addressedToLoopback(host), String(host)).toBe(true);
    }
  });

  it('refuses every other name, including those that only start or end like one', () => {
    for (const host of ['evil.example', 'evil.example:4318', 'localhost.evil.example', 'localhost.example', '127.0.0.1.nip.io:4318', '[::ffff:10.0.0.5]:4318', '127.0.0.256', '0.0.0.0:4318', '10.0.0.5', '[::2]:4318', '[::1', 'localhost:43:18', '']) {
      expect(addressedToLoopback(host), host).toBe(false);
    }
  });

  it('names the listen addresses serve treats as loopback', () => {
    expect(['127.0.0.1', '::1', '[::1]', 'localhost', '0:0:0:0:0:0:0:1'].every(isLoopbackHost)).toBe(true);
    expect(['0.0.0.0', '192.168.1.4', '::'].some(isLoopbackHost)).toBe(false);
  });
});

describe('loopbackHostCheck', () => {
  it('gives addressedToLoopback\'s verdict, whatever Host came before', () => {
    const check = loopbackHostCheck();
    for (const host of ['localhost:4318', 'localhost:4318', 'evil.example:4318', 'localhost:4318', undefined, 'evil.example', '[::1]:4318', '']) {
      expect(check(host), String(host)).toBe(addressedToLoopback(host));
    }
  });

  it('starts with no accepted Host: a foreign first request is refused', () => {
    expect(loopbackHostCheck()('evil.example')).toBe(false);
  });
});

describe('--allow-host', () => {
  it('answers the names it was given, with or without a port, and a leading dot\'s name and every name under it', () => {
    const check = loopbackHostCheck(['n1lens.example.com', '.internal.example'].map(allowedHostName));
    for (const host of ['n1lens.example.com', 'N1LENS.example.com:8443', 'n1lens.example.com.', 'internal.example', 'n1lens.internal.example:80', 'a.b.internal.example', 'localhost:4318']) {
      expect(check(host), host).toBe(true);
    }
    for (const host of ['example.com', 'evil.n1lens.example.com', 'n1lens.example.com.evil', 'xinternal.example', 'internal.example.evil:80', 'evil.example']) {
      expect(check(host), host).toBe(false);
    }
  });

  it('takes a host name in Host\'s form and refuses a URL, a port or a pattern, saying what to give', () => {
    expect(allowedHostName(' N1lens.Example.COM. ')).toBe('n1lens.example.com');
    expect(allowedHostName('.example.com')).toBe('.example.com');
    expect(allowedHostName('10.0.0.5')).toBe('10.0.0.5');
    for (const bad of ['https://n1lens.example.com', 'n1lens.example.com:8443', '*.example.com', '', 'a..b', '-a.example']) {
      expect(() => allowedHostName(bad), bad).toThrow(/is not a host name: give the name a proxy sends in Host, without scheme or port/);
    }
  });
});
