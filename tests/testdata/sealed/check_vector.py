# Checks worked_vector.txt with an independent RFC 9180 key schedule,
# written here on python3-cryptography's X25519, HMAC-SHA256 and AES-GCM
# (not the project's code), after checking that key schedule against the
# RFC's Appendix A.1.1 vector (tests/testdata/hpke/). For both alerts of the
# vector: every recipient sets up the context for its wrapped key's enc with
# its info, opens the wrapped key at its seq with the alert's context as
# AAD, and gets the content key; the content opens to the inner alert.
# Run by tests/sealed_vector_test.sh, or by hand (python3-cryptography >= 3.0):
#   python3 tests/testdata/sealed/check_vector.py tests/testdata/sealed/worked_vector.txt
import hashlib
import hmac
import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEM_ID, KDF_ID = 0x0020, 0x0001


def extract(salt, ikm):
    return hmac.new(salt or b'\0' * 32, ikm, hashlib.sha256).digest()


def expand(prk, info, n):
    out, t, i = b'', b'', 1
    while len(out) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        out += t
        i += 1
    return out[:n]


def labeled_extract(suite, salt, label, ikm):
    return extract(salt, b'HPKE-v1' + suite + label + ikm)


def labeled_expand(suite, prk, label, info, n):
    return expand(prk, n.to_bytes(2, 'big') + b'HPKE-v1' + suite + label + info, n)


def raw_pub(key):
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def decap(enc, sk_raw):
    sk = X25519PrivateKey.from_private_bytes(sk_raw)
    dh = sk.exchange(X25519PublicKey.from_public_bytes(enc))
    kem = b'KEM' + KEM_ID.to_bytes(2, 'big')
    kem_context = enc + raw_pub(sk.public_key())
    prk = labeled_extract(kem, b'', b'eae_prk', dh)
    return labeled_expand(kem, prk, b'shared_secret', kem_context, 32)


def key_schedule(shared_secret, info, aead_id, nk):
    suite = b'HPKE' + KEM_ID.to_bytes(2, 'big') + KDF_ID.to_bytes(2, 'big') + \
        aead_id.to_bytes(2, 'big')
    psk_id_hash = labeled_extract(suite, b'', b'psk_id_hash', b'')
    info_hash = labeled_extract(suite, b'', b'info_hash', info)
    ks_context = b'\0' + psk_id_hash + info_hash
    secret = labeled_extract(suite, shared_secret, b'secret', b'')
    key = labeled_expand(suite, secret, b'key', ks_context, nk)
    base_nonce = labeled_expand(suite, secret, b'base_nonce', ks_context, 12)
    return key, base_nonce


def open_at(key, base_nonce, seq, aad, ct):
    nonce = bytes(a ^ b for a, b in zip(base_nonce, seq.to_bytes(12, 'big')))
    return AESGCM(key).decrypt(nonce, ct, aad)


# The key schedule first, against RFC 9180 A.1.1 (AES-128-GCM).
here = os.path.dirname(os.path.abspath(__file__))
rfc = json.load(open(os.path.join(here, '..', 'hpke', 'rfc9180_x25519_base.json')))
a11 = rfc['vectors'][0]
ss = decap(bytes.fromhex(a11['enc']), bytes.fromhex(a11['skRm']))
assert ss.hex() == a11['shared_secret']
k, n = key_schedule(ss, bytes.fromhex(a11['info']), 0x0001, 16)
assert k.hex() == a11['key'] and n.hex() == a11['base_nonce']
for e in a11['encryptions']:
    pt = open_at(k, n, e['seq'], bytes.fromhex(e['aad']), bytes.fromhex(e['ct']))
    assert pt.hex() == e['pt']
print('key schedule matches RFC 9180 A.1.1 (%d encryptions)' % len(a11['encryptions']))

f = {}
recips = []
infos = []
for line in open(sys.argv[1]):
    if line.startswith('#') or not line.strip():
        continue
    k_, v = line.rstrip('\n').split(': ', 1)
    if k_ == 'recipient':
        recips.append(v.split())
    elif k_ == 'info':
        infos.append(bytes.fromhex(v))
    else:
        f[k_] = bytes.fromhex(v)


# Minimal protobuf walk: field 19 (sealed) -> 1 nonce, 2 ciphertext,
# 3 keys{1 node, 2 epoch, 3 enc, 4 wrapped, 5 seq}
def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7f) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b):
    i = 0
    while i < len(b):
        key, i = varint(b, i)
        fn, wt = key >> 3, key & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n_, i = varint(b, i)
            v = b[i:i + n_]
            i += n_
        else:
            raise ValueError(wt)
        yield fn, v


def wrap_info(origin, node, epoch):
    def s(x):
        return len(x).to_bytes(4, 'big') + x
    return s(b'watchfloor sealed wrap v2') + s(origin) + s(node) + epoch.to_bytes(8, 'big')


sk_of = {r[0]: bytes.fromhex(r[2]) for r in recips}
for prefix, seq_expected in (('', 0), ('second_', 1)):
    outer = f[prefix + 'outer']
    origin = [v for fn, v in fields(outer) if fn == 1][0]
    sealed = [v for fn, v in fields(outer) if fn == 19][0]
    sf = list(fields(sealed))
    nonce = [v for fn, v in sf if fn == 1][0]
    ct = [v for fn, v in sf if fn == 2][0]
    keys = [dict(fields(v)) for fn, v in sf if fn == 3]
    context = f[prefix + 'context']
    content_key = f[prefix + 'content_key']
    for idx, k_ in enumerate(keys):
        node = k_[1]
        epoch = k_.get(2, 0)
        info = wrap_info(origin, node, epoch)
        if prefix == '':
            assert info == infos[idx], node
        assert k_.get(5, 0) == seq_expected, node
        key, base_nonce = key_schedule(decap(k_[3], sk_of[node.decode()]), info, 0x0002, 32)
        got = open_at(key, base_nonce, k_.get(5, 0), context, k_[4])
        assert got == content_key, node
        print('%s: unwrapped content key for %s epoch %d at seq %d' %
              (prefix + 'outer', node.decode(), epoch, k_.get(5, 0)))
    inner = AESGCM(content_key).decrypt(nonce, ct, context)
    assert inner == f[prefix + 'inner']
    print('%s: content opens to the inner alert, %d bytes' % (prefix + 'outer', len(inner)))
