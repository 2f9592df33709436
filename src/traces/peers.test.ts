import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_PEERS, OPAQUE_AFTER_TRACES, OpaquePeers } from './peers.js';

const unanswered = (peers: OpaquePeers, peer: string, traces = OPAQUE_AFTER_TRACES): void => {
  for (let i = 0; i < traces; i++) peers.observe({ peer, answered: false });
};

describe('OpaquePeers verdicts', () => {
  it('shares a peer it learned once, and its un-learning when a call to it is answered', () => {
    const peers = new OpaquePeers();
    unanswered(peers, 'api.stripe.com', OPAQUE_AFTER_TRACES - 1);
    expect(peers.takeVerdicts()).toEqual([]);
    unanswered(peers, 'api.stripe.com', 3);
    expect(peers.takeVerdicts()).toEqual([{ peer: 'api.stripe.com', opaque: true }]);
    expect(peers.takeVerdicts()).toEqual([]);
    peers.observe({ peer: 'api.stripe.com', answered: true });
    expect(peers.takeVerdicts()).toEqual([{ peer: 'api.stripe.com', opaque: false }]);
    // A peer that answered before it was ever learned says nothing new.
    peers.observe({ peer: 'users.svc', answered: true });
    expect(peers.takeVerdicts()).toEqual([]);
  });

  it('adopts verdicts reached elsewhere without sharing them back, and lets an answer win', () => {
    const peers = new OpaquePeers();
    peers.adopt([{ peer: 'cdn.local', opaque: true }, { peer: 'users.svc', opaque: false }]);
    expect(peers.isOpaque('cdn.local')).toBe(true);
    expect(peers.isOpaque('users.svc')).toBe(false);
    expect(peers.count).toBe(1);
    expect(peers.takeVerdicts()).toEqual([]);
    // Adopted again (every sync reads them all): nothing changes.
    peers.adopt([{ peer: 'cdn.local', opaque: true }]);
    expect(peers.count).toBe(1);
    // Answered elsewhere later: forgotten here too, and for good.
    peers.adopt([{ peer: 'cdn.local', opaque: false }]);
    expect(peers.count).toBe(0);
    unanswered(peers, 'cdn.local');
    expect(peers.isOpaque('cdn.local')).toBe(false);
    expect(peers.takeVerdicts()).toEqual([]);
  });

  it('corrects a verdict of opaque for a peer it saw answer', () => {
    const peers = new OpaquePeers();
    peers.observe({ peer: 'users.svc', answered: true });
    peers.adopt([{ peer: 'users.svc', opaque: true }]);
    expect(peers.isOpaque('users.svc')).toBe(false);
    expect(peers.takeVerdicts()).toEqual([{ peer: 'users.svc', opaque: false }]);
  });

  it('un-learns an adopted peer once a call to it is answered here, and says so', () => {
    const peers = new OpaquePeers();
    peers.adopt([{ peer: 'cdn.local', opaque: true }]);
    peers.observe({ peer: 'cdn.local', answered: true });
    expect(peers.count).toBe(0);
    expect(peers.takeVerdicts()).toEqual([{ peer: 'cdn.local', opaque: false }]);
  });

  it('never forgets what it saw to make room for what others shared', () => {
    const peers = new OpaquePeers();
    peers.observe({ peer: 'users.svc', answered: true });
    peers.adopt(Array.from({ length: MAX_PEERS + 10 }, (_, i) => ({ peer: `hook-${i}.example`, opaque: true })));
    // The store's newest verdicts, as many as the older generation has room for.
    expect(peers.count).toBe(MAX_PEERS / 2);
    expect(peers.isOpaque('hook-0.example')).toBe(true);
    unanswered(peers, 'users.svc');
    expect(peers.isOpaque('users.svc')).toBe(false);
    expect(peers.takeVerdicts()).toEqual([]);
  });

  it('keeps what it saw through every read of a full store, whatever it sees between reads', () => {
    const peers = new OpaquePeers();
    const store = Array.from({ length: MAX_PEERS }, (_, i) => ({ peer: `elsewhere-${i}.example`, opaque: true }));
    peers.adopt(store);
    peers.observe({ peer: 'users.svc', answered: true });
    unanswered(peers, 'api.stripe.com');
    for (let read = 0; read < 100; read++) {
      peers.adopt(store);
      peers.observe({ peer: `local-${read}.svc`, answered: false });
    }
    // An answer is never in the store: forgotten, users.svc would be learned again from 20 unanswered traces.
    unanswered(peers, 'users.svc');
    expect(peers.isOpaque('users.svc')).toBe(false);
    expect(peers.isOpaque('api.stripe.com')).toBe(true);
    // What there was room for from the store is held too.
    expect(peers.isOpaque('elsewhere-0.example')).toBe(true);
  });

  it('puts back verdicts the store did not take, unless a newer one came meanwhile', () => {
    const peers = new OpaquePeers();
    unanswered(peers, 'a.local');
    unanswered(peers, 'b.local');
    const taken = peers.takeVerdicts();
    peers.observe({ peer: 'b.local', answered: true });
    peers.restoreVerdicts(taken);
    expect(peers.takeVerdicts()).toEqual([
      { peer: 'b.local', opaque: false },
      { peer: 'a.local', opaque: true },
    ]);
  });

  it('keeps the peers every request calls learned while tens of thousands of one-off hosts pass through', () => {
    const peers = new OpaquePeers();
    unanswered(peers, 'api.stripe.com');
    peers.observe({ peer: 'users.svc', answered: true });
    for (let i = 0; i < 3 * MAX_PEERS; i++) {
      peers.observe({ peer: `tenant-${i}.hooks.example`, answered: false });
      if (i % 1000 === 0) {
        peers.observe({ peer: 'api.stripe.com', answered: false });
        peers.observe({ peer: 'users.svc', answered: true });
      }
      if (!peers.isOpaque('api.stripe.com')) throw new Error(`forgotten after ${i} one-off hosts`);
    }
    // users.svc was never forgotten either: as many unanswered traces as teach a new peer do not teach it.
    unanswered(peers, 'users.svc');
    expect(peers.isOpaque('users.svc')).toBe(false);
    expect(peers.count).toBe(1);
  });

  it('counts exactly the peers it holds as opaque, however they come and go', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ peer: fc.integer({ min: 0, max: 3 * MAX_PEERS }), kind: fc.integer({ min: 0, max: 9 }) }), { minLength: 5000, maxLength: 30_000, size: 'max' }), (ops) => {
        const peers = new OpaquePeers();
        const named = new Set<number>();
        for (const { peer, kind } of ops) {
          const name = `p${peer % (kind < 5 ? 40 : 3 * MAX_PEERS)}`;
          named.add(peer % (kind < 5 ? 40 : 3 * MAX_PEERS));
          if (kind === 9) peers.adopt([{ peer: name, opaque: true }, { peer: `p${peer}`, opaque: peer % 2 === 0 }]);
          else peers.observe({ peer: name, answered: kind === 0 });
        }
        let opaque = 0;
        for (let p = 0; p <= 3 * MAX_PEERS; p++) if (peers.isOpaque(`p${p}`)) opaque++;
        expect(peers.count).toBe(opaque);
      }),
      { numRuns: 10, endOnFailure: true }, // shrinking 30k operations takes minutes
    );
  });
});
