import { describe, expect, it } from 'vitest';
import { addressedToLoopback, isLoopbackHost, loopbackHostCheck } from './loopback-host.js';

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
